"""``tokprobe variants build``: make fine-tuned and distilled GGUF variants of a small model (CPU)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import typer

from .. import variants
from ..errors import InputError
from ..models.quantize import parse_types
from ..variants import Recipe, build_variants
from ..variants.pipeline import check_source
from ._common import FORMAT_HELP, command_group, emit, progress_bar

VARIANTS_HELP = "Locally made variants (code fine-tune, distilled students with fewer layers); needs tokprobe[train]."


def register(app: typer.Typer) -> None:
    variants_app = command_group("variants", VARIANTS_HELP)
    variants_app.command("build")(build_command)
    app.add_typer(variants_app, name="variants")


def _ints(spec: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in _names(spec))
    except ValueError:
        raise InputError(f"{what}: expected comma-separated integers, got {spec!r}") from None


def _names(spec: str) -> tuple[str, ...]:
    """'a, b c' -> ('a', 'b', 'c')."""
    return tuple(t for t in re.split(r"[,\s]+", spec.strip()) if t)


def build_command(
    source: str = typer.Option("smollm2-135m", "--source", "-s", help="Teacher / base model: name or GGUF path."),
    finetune_steps: int = typer.Option(200, "--finetune-steps", help="Code fine-tune steps (0 = no fine-tune)."),
    distill_steps: int = typer.Option(200, "--distill-steps", help="Distillation steps per student."),
    layers: str = typer.Option("6,15", "--layers", help="Student sizes in layers, comma-separated ('' = none)."),
    layer_selection: str = typer.Option(
        "ends", "--layer-selection",
        help="Teacher layers a student starts from: ends (first n//2 + last, middle block dropped) or even."),
    batch_size: int = typer.Option(4, "--batch-size", help="Sequences per step."),
    seq_len: int = typer.Option(256, "--seq-len", help="Tokens per sequence."),
    finetune_lr: float = typer.Option(5e-5, "--finetune-lr", help="Peak learning rate of the fine-tune."),
    distill_lr: float = typer.Option(2e-4, "--distill-lr", help="Peak learning rate of the students."),
    temperature: float = typer.Option(2.0, "--temperature", help="Distillation temperature."),
    quant: str = typer.Option("Q8_0,Q4_1", "--quant", help="llama.cpp types each variant is quantized to ('' = none)."),
    data: str = typer.Option("smoke,stdlib", "--data",
                             help="Training code: smoke (the shipped corpus, every language), stdlib (CPython)."),
    seed: int = typer.Option(0, "--seed", help="Seed of data order, batches and torch."),
    threads: int | None = typer.Option(None, "--threads", help="torch / quantizer threads (default: all cores)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output directory (default <cache>/variants)."),
    sdist: Path | None = typer.Option(None, "--sdist", help="llama-cpp-python 0.3.36 sdist (for the converter)."),
    no_register: bool = typer.Option(False, "--no-register", help="Do not register the variant names."),
    force: bool = typer.Option(False, "--force", help="Redo every step even when its done-marker matches."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
) -> None:
    """Fine-tune and distill SOURCE on code, convert to GGUF, quantize, register names (resumable)."""
    variants.require_train()  # a missing extra fails before any progress output (looked up here: tests replace it)
    qtypes = _names(quant)
    if qtypes:
        qtypes = tuple(parse_types(qtypes))
    recipe = Recipe(source=source, finetune=finetune_steps > 0, finetune_steps=finetune_steps,
                    distill_steps=distill_steps, student_layers=_ints(layers, "--layers"),
                    layer_selection=layer_selection, batch_size=batch_size,
                    seq_len=seq_len, finetune_lr=finetune_lr, distill_lr=distill_lr, temperature=temperature,
                    quant_types=qtypes, data_sources=_names(data),
                    seed=seed)
    check_source(recipe)  # bad arguments fail before any progress output
    _quiet_transformers()
    with progress_bar("building variants", "steps") as update:
        res = build_variants(recipe, out_dir=out, register=not no_register, threads=threads, sdist=sdist,
                             force=force, progress=update, log=_log_step)
    rows = [{"name": v.name, "kind": v.kind, "layers": v.n_layers, "path": str(v.path),
             "quantized": ",".join(v.quantized)} for v in res.variants]
    emit(pd.DataFrame(rows), fmt, None, title=f"variants of {source}")
    typer.echo(f"manifest: {res.manifest}", err=True)


def _log_step(step: str, status: str) -> None:
    if status != "start":
        typer.echo(f"{step}: {'reused' if status == 'skip' else 'done'}", err=True)


def _quiet_transformers() -> None:
    """transformers' own progress bars and warnings would interleave with ours."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

