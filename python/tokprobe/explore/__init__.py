"""The per-token explorer: where, in real code, a variant stops agreeing with its reference.

``write_explorer(run_dir)`` reads a compare or study run directory and writes ``explorer.html`` there:
one self-contained page (no network) that tints every scored token by KL, reverse KL, Δp or the
surprisal difference for a chosen variant, filters by language, class and file, shows both models'
next tokens on a click and lists the most divergent tokens (:mod:`.data`, :mod:`.page`).
"""

from __future__ import annotations

from pathlib import Path

from .. import io
from .data import STATISTICS, compare_dirs, explorer_data
from .page import render_page

__all__ = ["EXPLORER_FILE", "STATISTICS", "compare_dirs", "explorer_data", "render_page", "write_explorer"]
EXPLORER_FILE = "explorer.html"


def write_explorer(run_dir: str | Path, out: str | Path | None = None, title: str | None = None) -> Path:
    """Write the explorer of ``run_dir`` to ``out`` (default ``<run_dir>/explorer.html``), atomically."""
    run = Path(run_dir)
    data = explorer_data(run)
    path = Path(out) if out is not None else run / EXPLORER_FILE
    return io.write_text(path, render_page(data, title or f"tokprobe explorer: {run.name}"))
