"""`tokprobe study` and `tokprobe report`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._common import print_table, progress_bar


def register(app: typer.Typer) -> None:
    app.command("study")(study)
    app.command("report")(report)


def study(
    config: Optional[Path] = typer.Argument(
        None, help="Study config (TOML). Without it: the default study on gemma3-270m's quant ladder."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Run directory (default: tokprobe-runs/study-<name>). Re-runs resume there."),
    quick: bool = typer.Option(False, "--quick", help="Default study, small: 3 ladder levels, 250 bytes of code per language, 3 problems."),
    full_humaneval: bool = typer.Option(False, "--full-humaneval", help="Code generation on all 164 problems."),
    steps: Optional[str] = typer.Option(
        None, "--steps", help="Comma-separated subset of: models, vocab, coldstart, compare, codegen."),
    threads: int = typer.Option(0, "--threads", "-t", help="Threads (0 = all available cores)."),
) -> None:
    """Run a whole study (models, vocabulary, cold start, divergence, code generation) and write a report.

    Writes report.html (self-contained), report.md, every table as CSV/Parquet/JSON and run
    metadata into the run directory. Finished steps are skipped on a re-run (content-hash keyed).
    """
    from ..study import STEPS, default_config, load_config, run_study

    if config is not None and quick:
        raise typer.BadParameter("--quick applies to the default study only; set sizes in the config")
    cfg = load_config(config) if config is not None else default_config(quick=quick)
    if full_humaneval:
        cfg.codegen.limit = 0
    if threads:
        cfg.threads = threads
    chosen = tuple(s.strip() for s in steps.split(",") if s.strip()) if steps else STEPS
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in cfg.name)
    run_dir = out or Path("tokprobe-runs") / f"study-{slug}"

    def log(msg: str) -> None:
        typer.echo(msg, err=True)

    res = run_study(cfg, run_dir, steps=chosen, log=log, progress=progress_bar)
    print_table(res.timings(), title="steps")
    typer.echo(f"report: {res.report_html}")
    typer.echo(f"        {res.report_md}")


def report(run_dir: Path = typer.Argument(..., help="A study run directory.")) -> None:
    """Re-render report.html and report.md from the results stored in a study run directory."""
    from ..report import render_report

    html, md = render_report(run_dir)
    typer.echo(f"report: {html}")
    typer.echo(f"        {md}")
