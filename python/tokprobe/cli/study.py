"""`tokprobe study` and `tokprobe report`."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ..explore import write_explorer
from ..study import STEPS, run_study, study_config
from ..study.executors import make_executor
from ..study.runner import render_checked
from ._common import print_table, progress_bar


def register(app: typer.Typer) -> None:
    app.command("study")(study_command)
    app.command("report")(report_command)


def study_command(
    config: Path | None = typer.Argument(
        None, help="Study config (TOML). Without it: the default study on gemma3-270m's quant ladder."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Run directory (default: tokprobe-runs/study-<name>). Re-runs resume there."),
    quick: bool = typer.Option(
        False, "--quick", help="Default study, small: 3 ladder levels, ~200 scored tokens per language, 3 problems."),
    tokens_per_language: int | None = typer.Option(
        None, "--tokens-per-language",
        help="Scored tokens of every language per model in the divergence step (default study: 500; 0 = all)."),
    full_humaneval: bool = typer.Option(
        False, "--full-humaneval",
        help="Code generation on all 164 problems and on every variant: turns off the gate that skips a group's "
             "variants when its reference passes fewer than codegen.min_reference_passes (default 3) problems."),
    steps: str | None = typer.Option(
        None, "--steps", help="Comma-separated subset of: models, vocab, coldstart, compare, complete, codegen."),
    threads: int = typer.Option(0, "--threads", "-t", help="Threads (0 = all available cores)."),
    use_ray: bool = typer.Option(
        False, "--ray", help="Split every step into units (a ladder level, a part of the files, a model, a shard of "
        "problems) run as Ray tasks (the [ray] extra): on a local Ray instance, or on the cluster at --ray-address / "
        "RAY_ADDRESS."),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="A running Ray cluster (host:port, or auto); implies --ray."),
) -> None:
    """Run a whole study (models, vocabulary, cold start, divergence, code generation) and write a report.

    Writes report.html (self-contained), report.md, every table as CSV/Parquet/JSON and run
    metadata into the run directory. Finished steps are skipped on a re-run (content-hash keyed).
    """
    cfg = study_config(config, quick=quick, full_humaneval=full_humaneval, threads=threads,
                       tokens_per_language=tokens_per_language)
    chosen = tuple(s.strip() for s in steps.split(",") if s.strip()) if steps else STEPS
    run_dir = out or cfg.default_run_dir()

    ex = make_executor(ray_address or os.environ.get("RAY_ADDRESS"), use_ray=use_ray or ray_address is not None)
    try:
        res = run_study(cfg, run_dir, steps=chosen, log=_log, progress=progress_bar, executor=ex)
    finally:
        ex.close()
    print_table(res.timings(), title="steps")
    typer.echo(f"report: {res.report_html}")
    typer.echo(f"        {res.report_md}")


def _log(msg: str) -> None:
    typer.echo(msg, err=True)


def report_command(run_dir: Path = typer.Argument(..., help="A study run directory.")) -> None:
    """Re-render report.html and report.md (and explorer.html) from the results stored in a study run directory."""
    if any((run_dir / "steps" / "compare").glob("group*/tokens.parquet")):
        typer.echo(f"explorer: {write_explorer(run_dir)}")
    html, md = render_checked(run_dir)  # damaged step results: one error line, no stale report
    typer.echo(f"report: {html}")
    typer.echo(f"        {md}")
