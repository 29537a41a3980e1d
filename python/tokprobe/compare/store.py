"""Chunk stores: per-window (and per-batch) ``.npz`` files written atomically, plus a manifest.

A store is a directory. Each finished part of a window is one ``w{window}-b{part}.npz`` file
(written to a temporary file and renamed), and a window is finished when its
``w{window}.done`` marker exists (written after its last part). An interrupted run leaves
only whole files, so the next run resumes at the first unfinished window.

Used for the cached reference (``kind`` 'exact': float16 log-probs of the full vocabulary;
'topk': the top-K ids and log-probs plus the tail mass) and for the per-token results of
every comparison (small arrays), so a comparison resumes too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import io
from ..errors import FileFormatError

FORMAT = "tokprobe-chunks"
FORMAT_VERSION = 1
_PART_RE = re.compile(r"^w(\d{6})-b(\d{3})\.npz$")
_DONE_RE = re.compile(r"^w(\d{6})\.done$")


class ChunkStore:
    """A directory of atomically written chunk files keyed by (window, part)."""

    def __init__(self, path: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
        self.path = Path(path)
        self.manifest = dict(manifest)
        self.manifest.setdefault("format", FORMAT)
        self.manifest.setdefault("format_version", FORMAT_VERSION)

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str], manifest: dict[str, Any], *, resume: bool = True) -> ChunkStore:
        """Open (or create) a store; an existing one whose key differs, or resume=False, is cleared."""
        store = cls(path, manifest)
        mpath = store.path / "manifest.json"
        if mpath.exists():
            try:
                old = io.read_json(mpath)
            except (ValueError, OSError):
                old = None
            if not resume or not isinstance(old, dict) or old.get("key") != manifest.get("key"):
                store.clear()
            else:
                # keep what the previous run recorded (e.g. complete, floor), update the rest
                merged = dict(old)
                merged.update({k: v for k, v in manifest.items() if k not in ("complete",)})
                store.manifest = merged
        store.path.mkdir(parents=True, exist_ok=True)
        store.write_manifest()
        return store

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ChunkStore:
        mpath = Path(path) / "manifest.json"
        if not mpath.exists():
            raise FileFormatError(f"{path} is not a tokprobe chunk store (no manifest.json)")
        manifest = io.read_json(mpath)
        if manifest.get("format") != FORMAT:
            raise FileFormatError(f"{mpath} is not a tokprobe chunk-store manifest")
        return cls(path, manifest)

    def clear(self) -> None:
        if self.path.exists():
            for p in self.path.iterdir():
                if p.is_file() and (_PART_RE.match(p.name) or _DONE_RE.match(p.name) or p.name == "manifest.json"
                                    or p.name.endswith(".tmp")):
                    p.unlink()
                elif p.is_dir():
                    shutil.rmtree(p)

    def write_manifest(self) -> None:
        io.write_json(self.path / "manifest.json", self.manifest)

    def update_manifest(self, **values: Any) -> None:
        self.manifest.update(values)
        self.write_manifest()

    # -- chunks ----------------------------------------------------------------------------
    def part_path(self, window: int, part: int) -> Path:
        return self.path / f"w{window:06d}-b{part:03d}.npz"

    def done_path(self, window: int) -> Path:
        return self.path / f"w{window:06d}.done"

    def write_part(self, window: int, part: int, arrays: dict[str, np.ndarray]) -> Path:
        target = self.part_path(window, part)
        with io.atomic_path(target) as tmp:
            with open(tmp, "wb") as fh:
                named: dict[str, Any] = arrays  # savez's stubs type **kwds loosely
                np.savez(fh, **named)
        return target

    def mark_done(self, window: int, n_parts: int) -> None:
        io.write_text(self.done_path(window), json.dumps({"parts": n_parts}) + "\n")

    def write_window(self, window: int, arrays: dict[str, np.ndarray]) -> None:
        """One-part window: write the part, then the done marker."""
        self.write_part(window, 0, arrays)
        self.mark_done(window, 1)

    def done_windows(self) -> set[int]:
        if not self.path.exists():
            return set()
        return {int(m.group(1)) for p in self.path.iterdir() if (m := _DONE_RE.match(p.name))}

    def first_missing(self, n_windows: int) -> int:
        done = self.done_windows()
        for w in range(n_windows):
            if w not in done:
                return w
        return n_windows

    def n_parts(self, window: int) -> int:
        try:
            return int(json.loads(self.done_path(window).read_text())["parts"])
        except (OSError, ValueError, KeyError):
            return len(list(self.path.glob(f"w{window:06d}-b*.npz")))

    def read_part(self, window: int, part: int) -> dict[str, np.ndarray]:
        p = self.part_path(window, part)
        try:
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"cannot read chunk {p}: {exc}") from None

    def read_window(self, window: int) -> dict[str, np.ndarray]:
        parts = [self.read_part(window, k) for k in range(self.n_parts(window))]
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def iter_windows(self, windows: Iterable[int]) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        for w in windows:
            yield w, self.read_window(w)

    def nbytes(self) -> int:
        """Bytes on disk of the chunk files (not the manifest)."""
        return sum(p.stat().st_size for p in self.path.iterdir() if _PART_RE.match(p.name))
