"""Atomic file output and table serialisation shared by every analysis.

Every result file is written to a temporary file in the same directory and renamed into
place, so an interrupted run never leaves a half-written result behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

TABLE_FORMATS = ("table", "json", "csv", "parquet")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    # mkstemp creates 0600; results are ordinary files, so give them the umask's usual mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path,)):
        return str(obj)
    if isinstance(obj, (pd.Timestamp,)):
        return obj.isoformat()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(obj: Any) -> str:
    """JSON text for results; NaN/inf become null-safe strings are not used: they stay JSON numbers
    only when finite, otherwise ``null`` (strict JSON has no inf/NaN)."""
    return json.dumps(_finite(obj), default=_json_default, indent=2, ensure_ascii=False)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return write_text(path, to_json(obj) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_json_object(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON object stored at ``path``; ``{}`` when the file is missing, unreadable or not an object
    (a small record of the cache's that is rebuilt when lost)."""
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_frame(df: pd.DataFrame, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write a DataFrame as csv / json / parquet (by ``fmt`` or the file suffix), atomically."""
    target = Path(path)
    fmt = (fmt or target.suffix.lstrip(".")).lower()
    with atomic_path(target) as tmp:
        if fmt == "csv":
            df.to_csv(tmp, index=False)
        elif fmt == "json":
            tmp.write_text(frame_to_json(df), encoding="utf-8")
        elif fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            raise InputError(f"unknown table format {fmt!r}; use csv, json or parquet")
    return target


def read_frame(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a table written by :func:`write_frame`.

    CSV is read with ``keep_default_na=False`` so that keywords such as ``null`` or ``NaN``
    stay strings (a pitfall of the paper's notebooks); empty cells still become NaN.
    """
    target = Path(path)
    fmt = target.suffix.lstrip(".").lower()
    if fmt == "csv":
        return pd.read_csv(target, keep_default_na=False, na_values=[""])
    if fmt == "json":
        return pd.DataFrame(json.loads(target.read_text(encoding="utf-8")))
    if fmt == "parquet":
        return pd.read_parquet(target)
    raise InputError(f"unknown table format {fmt!r}; use csv, json or parquet")


def frame_to_json(df: pd.DataFrame) -> str:
    records = df.to_dict(orient="records")
    return to_json(records)
