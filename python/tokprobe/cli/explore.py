"""``tokprobe explore``: the per-token explorer page of a compare or study run directory."""

from __future__ import annotations

from pathlib import Path

import typer

from ..explore import EXPLORER_FILE, write_explorer

HELP = (
    "Write a self-contained HTML page (no network) that shows the scored source files of a compare or study "
    "run with every token tinted by KL, reverse KL, Δp of the true token or the surprisal difference for a "
    "chosen variant; filters by language, token class and file; a click on a token shows both models' next "
    "tokens; the most divergent tokens are listed and jump to their place.\n\n"
    "Examples:\n\n"
    "tokprobe explore tokprobe-runs/study-gemma3-270m-default\n\n"
    "tokprobe explore ~/.cache/tokprobe/compare/<run key> --out q4.html"
)


def register(app: typer.Typer) -> None:
    app.command("explore", help=HELP)(explore_command)


def explore_command(
    run_dir: Path = typer.Argument(..., help="A study run directory or a compare run directory."),
    out: Path | None = typer.Option(None, "--out", "-o", help=f"The page (default: <RUN_DIR>/{EXPLORER_FILE})."),
) -> None:
    path = write_explorer(run_dir, out)
    typer.echo(f"explorer: {path} ({path.stat().st_size / 1e6:.1f} MB)")
