"""Reading a study run directory: a stored table if it is there, and the group directories of a step."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import io


def read_table(path: Path) -> pd.DataFrame | None:
    """The table at ``path`` (CSV, JSON or Parquet by its suffix), or None when the step did not write it."""
    return io.read_frame(path) if path.is_file() else None


def group_dirs(step: Path) -> list[Path]:
    """``step``'s ``group0``, ``group1``, ... directories, in group order."""
    return sorted((p for p in step.glob("group*") if p.is_dir()), key=lambda p: int(p.name[5:] or 0))
