"""``tokprobe complete``: greedy line/block completion probes of real code (the method: tokprobe.complete)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from ..complete import MODES, CompleteResult, ProbeSettings, complete
from ..errors import InputError
from ._common import FORMAT_HELP, emit, progress_bar

SHOW = ("summary", "paired", "flips", "probes", "costs")
SUMMARY_COLUMNS = ["model", "language", "n", "n_files", "exact", "exact_lo", "exact_hi", "edit_sim", "edit_sim_lo",
                   "edit_sim_hi", "valid", "valid_lo", "valid_hi", "empty", "too_few"]
PAIRED_COLUMNS = ["model", "language", "n", "d_exact", "d_exact_lo", "d_exact_hi", "d_edit_sim", "d_edit_sim_lo",
                  "d_edit_sim_hi", "d_valid", "d_valid_lo", "d_valid_hi", "loses", "loses_validity"]
PROBE_COLUMNS = ["model", "language", "file", "line", "exact", "edit_sim", "valid", "stop_reason", "truth",
                 "completion"]

HELP = (
    "Completion probes: at sampled line starts of real code (not comments, strings or blank lines; "
    "--mode block: the first line of a block after '{' or ':'), each model gets the preceding code of "
    "the file as its prompt (at most --context tokens, cut from the left and recorded) and completes it "
    "greedily to the end of the line or block. Per probe: exact match (whitespace-normalised), edit "
    "similarity (normalised Levenshtein) and syntactic validity (the file with the completion spliced in "
    "has no more tree-sitter errors than the original). Tables give 95 % intervals that resample files; "
    "with variants, the paired difference to the reference (the first model) and exact-match flips with "
    "the divergence at the first token. A file's probes share one prefill and are decoded as parallel "
    "sequences.\n\n"
    "Examples:\n\n"
    "tokprobe complete gemma3-270m-F16 gemma3-270m-Q2_K\n\n"
    "tokprobe complete gemma3-270m --mode block --probes-per-language 10 --show probes\n\n"
    "tokprobe complete gemma3-270m-F16 gemma3-270m-Q4_0 --show paired --format csv --out paired.csv"
)


def register(app: typer.Typer) -> None:
    app.command("complete", help=HELP)(complete_command)


def complete_command(
    reference: str = typer.Argument(..., help="Reference model: a name or GGUF path."),
    variants: list[str] | None = typer.Argument(None, help="Variant models, compared with the reference."),
    corpus: str | None = typer.Option(None, "--corpus", "-c", help="Corpus directory or name (default: shipped)."),
    mode: str = typer.Option("line", "--mode", "-m", help="line (to the end of the line) or block."),
    probes_per_language: int = typer.Option(20, "--probes-per-language", "-n", help="Probes in every language."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="Tokens per completion (default 32 / 96)."),
    context: int = typer.Option(512, "--context", help="Tokens of preceding code a prompt keeps at most."),
    seed: int = typer.Option(0, "--seed", help="Seed of the probe sampler and the bootstrap."),
    threads: int | None = typer.Option(None, "--threads", "-t", min=1, help="Model threads (default: all cores)."),
    show: str = typer.Option("summary", "--show", help="Table to print: " + ", ".join(SHOW) + "."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the shown table to this file."),
    out_dir: Path | None = typer.Option(None, "--out-dir", help="Also save every table and complete.png here."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
) -> None:
    if show not in SHOW:
        raise InputError(f"--show must be one of {', '.join(SHOW)}, got {show!r}")
    if mode not in MODES:
        raise InputError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    names = [reference, *(variants or [])]
    if show in ("paired", "flips") and len(names) < 2:
        raise InputError(f"--show {show} needs at least one variant")
    settings = ProbeSettings(mode=mode, probes_per_language=probes_per_language, max_tokens=max_tokens,
                             context=context, seed=seed, threads=threads).check()
    if no_progress:
        res = complete(reference, names[1:], corpus=corpus, settings=settings)
    else:
        with progress_bar("complete", unit="probes") as update:
            res = complete(reference, names[1:], corpus=corpus, settings=settings, progress=update)
    for note in res.notes:
        typer.echo(f"note: {note}", err=True)
    if out_dir is not None:
        res.save(out_dir, plot=True)
        typer.echo(f"wrote {out_dir}", err=True)
    table = _table(res, show)
    emit(compact(table) if fmt == "table" and out is None else table, fmt, out,
         title=f"completion probes ({mode} mode): {show}")


def compact(df: pd.DataFrame) -> pd.DataFrame:
    """For the terminal: each ``x``, ``x_lo``, ``x_hi`` as one column ``x [lo, hi]``."""
    out = df.copy()
    for col in [c for c in df.columns if f"{c}_lo" in df.columns and f"{c}_hi" in df.columns]:
        out[col] = [f"{v:.3f} [{lo:.3f}, {hi:.3f}]" for v, lo, hi in
                    zip(df[col], df[f"{col}_lo"], df[f"{col}_hi"], strict=True)]
        out = out.drop(columns=[f"{col}_lo", f"{col}_hi"])
    return out


def _table(res: CompleteResult, show: str) -> pd.DataFrame:
    if show == "summary":
        t = res.summary()
        return t[[c for c in SUMMARY_COLUMNS if c in t.columns]]
    if show == "paired":
        t = res.paired()
        return t[[c for c in PAIRED_COLUMNS if c in t.columns]]
    if show == "flips":
        return res.flips()
    if show == "costs":
        return res.costs
    return res.probes[PROBE_COLUMNS]
