"""Append-only JSONL files for resumable runs.

Each record is one line, written with ``write + flush + fsync``, so a finished sample survives
a crash or Ctrl-C. On open, a torn last line (no trailing newline, e.g. power loss in the middle
of a write) is cut off; every complete line must be valid JSON. A lock file keeps two tool
processes from appending to the same run directory at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError, InputError


class JsonlStore:
    """An append-only JSONL file. ``records`` holds what was on disk when opened plus appends."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.records: list[dict[str, Any]] = []
        self.torn_bytes = 0
        self._load()
        self._fh = open(self.path, "a", encoding="utf-8")

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            # Torn last line: drop it so the next append starts on a fresh line.
            self.torn_bytes = len(data) - end
            with open(self.path, "r+b") as fh:
                fh.truncate(end)
                fh.flush()
                os.fsync(fh.fileno())
            data = data[:end]
        for lineno, line in enumerate(data.split(b"\n"), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise FileFormatError(f"{self.path}:{lineno}: corrupt JSONL line (not the last line)") from None
            if not isinstance(obj, dict):
                raise FileFormatError(f"{self.path}:{lineno}: expected a JSON object")
            self.records.append(obj)

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, allow_nan=False, default=_default) + "\n"
        with self._lock:
            if self._fh.closed:
                raise ValueError(f"{self.path} is closed")
            self._fh.write(line)
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self.records.append(record)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self.records))

    def __len__(self) -> int:
        return len(self.records)

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()

    def __enter__(self) -> JsonlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``<dir>/.lock`` for the life of a run."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / ".lock"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise InputError(f"another tokprobe process is using {directory}") from None

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
