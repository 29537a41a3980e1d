"""The ``tokprobe`` command line. Commands live one area per module; no analysis logic here.

Every command module has the same shape: its commands are plain module-level functions, and one
``register(app)`` adds them (and its command groups, such as ``tokprobe models ...``) to the app.
"""

from __future__ import annotations

import sys

import typer

from .._version import __version__
from ..errors import Error
from ..provenance import llama_cpp_version
from . import codegen, coldstart, compare, complete, explore, models, study, variants, vocab

HELP = """Token-level profiler for code LLMs in GGUF form (CPU only, llama.cpp inside).

Areas: models and quantization (models, quantize), vocabulary analysis (vocab, vocabs, corpus),
cold-start distributions (coldstart), divergence between a reference and variants (compare),
line and block completion probes in every language (complete), HumanEval pass@k with sandboxed
execution (codegen), and whole studies with reports (study, report).
"""

app = typer.Typer(
    name="tokprobe",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# One module per area, in the order of the help listing; each exposes ``register(app)``.
COMMAND_MODULES = (models, vocab, coldstart, compare, explore, complete, codegen, study, variants)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tokprobe {__version__} (llama-cpp-python {llama_cpp_version()})")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", help="Print the version and exit.", callback=_version_callback, is_eager=True
    ),
) -> None:
    """Token-level profiler for code LLMs in GGUF form."""


for _module in COMMAND_MODULES:
    _module.register(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit status 2."""
    try:
        rv = app(args=argv, standalone_mode=False)
    except Error as exc:
        typer.echo(f"error: {exc}", err=True)
        return _exit(2)
    except KeyboardInterrupt:
        return _interrupted()
    except typer.Abort:
        typer.echo("interrupted", err=True)
        return _exit(130)
    except typer.Exit as exc:
        return _exit(int(getattr(exc, "exit_code", 0) or 0))
    except typer.TyperException as exc:
        # Usage errors (bad option, bad value): typer's own one-line message and usage hint.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {exc}", err=True)
        return _exit(int(getattr(exc, "exit_code", 2) or 2))
    if rv == INTERRUPTED_EXIT:
        # typer (standalone_mode=False) turns a KeyboardInterrupt into Exit(130) and returns 130.
        return _interrupted()
    return _exit(rv if isinstance(rv, int) else 0)


INTERRUPTED_EXIT = 130


def _interrupted() -> int:
    typer.echo("interrupted: finished results are kept; run the same command again to resume", err=True)
    return _exit(INTERRUPTED_EXIT)


def _exit(code: int) -> int:
    sys.exit(code)
