"""Chunk stores: per-window (and per-batch) ``.npz`` files written atomically, plus a manifest.

A store is a directory. Each finished part of a window is one ``w{window}-b{part}.npz`` file
(written to a temporary file and renamed), and a window is finished when its
``w{window}.done`` marker exists (written after its last part). An interrupted run leaves
only whole files, so the next run resumes at the first unfinished window.

Stored chunks are verified: the done marker records the store's key and the size and sha256 of every
part. Opening a store to resume drops (and says so on stderr) every window whose marker belongs to
another store or whose parts are missing or have another size (a truncated or foreign chunk), so
they are recomputed; reading a part checks its sha256, and a mismatch is one error line (the window
is dropped, so the next run recomputes it) instead of a ``BadZipFile`` traceback or a silently wrong
number.

Used for the cached reference (``kind`` 'exact': float16 log-probs of the full vocabulary;
'topk': the top-K ids and log-probs plus the tail mass) and for the per-token results of
every comparison (small arrays), so a comparison resumes too.
"""

from __future__ import annotations

import hashlib
import io as _bytes_io
import json
import os
import re
import shutil
import sys
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import io
from ..errors import FileFormatError

FORMAT = "tokprobe-chunks"
FORMAT_VERSION = 2  # 2: done markers carry the store key and the parts' sizes and sha256
FULL_VOCAB_KINDS = ("exact", "topk")  # reference caches: verified by size on open, by sha256 on read
_PART_RE = re.compile(r"^w(\d{6})-b(\d{3})\.npz$")
_DONE_RE = re.compile(r"^w(\d{6})\.done$")


class ChunkStore:
    """A directory of atomically written chunk files keyed by (window, part)."""

    def __init__(self, path: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
        self._digests: dict[tuple[int, int], tuple[int, str]] = {}  # parts written, not yet marked done
        self.first_window = 0  # a part of a run (tokprobe.compare.parts) leaves the windows before this to others
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
        store.drop_unverified()
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
        buf = _bytes_io.BytesIO()
        named: dict[str, Any] = arrays  # savez's stubs type **kwds loosely
        np.savez(buf, **named)
        data = buf.getvalue()
        with io.atomic_path(target) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(data)
        self._digests[(window, part)] = (len(data), hashlib.sha256(data).hexdigest())
        return target

    def mark_done(self, window: int, n_parts: int) -> None:
        sizes, digests = [], []
        for k in range(n_parts):
            known = self._digests.pop((window, k), None)
            size, digest = known if known is not None else _file_digest(self.part_path(window, k))
            sizes.append(size)
            digests.append(digest)
        io.write_text(self.done_path(window), json.dumps({"parts": n_parts, "key": self.manifest.get("key"),
                                                          "sizes": sizes, "sha256": digests}) + "\n")

    def write_window(self, window: int, arrays: dict[str, np.ndarray]) -> None:
        """One-part window: write the part, then the done marker."""
        self.write_part(window, 0, arrays)
        self.mark_done(window, 1)

    def done_windows(self) -> set[int]:
        if not self.path.exists():
            return set()
        return {int(m.group(1)) for p in self.path.iterdir() if (m := _DONE_RE.match(p.name))}

    def first_missing(self, n_windows: int) -> int:
        """The first unfinished window from :attr:`first_window` on (``n_windows`` when none is left)."""
        done = self.done_windows()
        for w in range(self.first_window, n_windows):
            if w not in done:
                return w
        return n_windows

    def n_parts(self, window: int) -> int:
        marker = self._marker(window)
        if marker is None:
            raise FileFormatError(f"chunk store {self.path}: window {window} is not finished or its marker is damaged; "
                                  "run the same command again to recompute it")
        return int(marker["parts"])

    def _marker(self, window: int) -> dict[str, Any] | None:
        """The done marker of ``window`` if it is this store's and well formed, else None."""
        try:
            m = json.loads(self.done_path(window).read_text())
            n = int(m["parts"])
            ok = (m.get("key") == self.manifest.get("key") and n >= 1 and len(m["sizes"]) == n
                  and len(m["sha256"]) == n)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return m if ok else None

    def _verified(self, window: int, full: bool) -> bool:
        m = self._marker(window)
        if m is None:
            return False
        for k, (size, digest) in enumerate(zip(m["sizes"], m["sha256"], strict=True)):
            try:
                p = self.part_path(window, k)
                if p.stat().st_size != int(size) or (full and _file_digest(p)[1] != digest):
                    return False
            except (OSError, ValueError, TypeError):
                return False
        return True

    def drop_window(self, window: int) -> None:
        """Forget a finished window (marker first, then its parts): it is recomputed."""
        self.done_path(window).unlink(missing_ok=True)
        for p in self.path.glob(f"w{window:06d}-b*.npz"):
            p.unlink(missing_ok=True)

    def drop_unverified(self) -> list[int]:
        """Drop every finished window whose marker is another store's or stale, or whose parts are missing or
        differ from their record (truncated, or copied from another run); say so on stderr. Returns them."""
        # Small per-token stores are hashed in full; the (large) reference caches by size here, by sha256 on read.
        full = self.manifest.get("kind") not in FULL_VOCAB_KINDS
        bad = sorted(w for w in self.done_windows() if not self._verified(w, full))
        for w in bad:
            self.drop_window(w)
        if bad:
            shown = ", ".join(str(w) for w in bad[:8]) + (" ..." if len(bad) > 8 else "")
            print(f"tokprobe: {len(bad)} stored chunk(s) in {self.path} are damaged, stale or from another run "
                  f"(windows {shown}); recomputing them", file=sys.stderr)
        return bad

    def read_part(self, window: int, part: int) -> dict[str, np.ndarray]:
        p = self.part_path(window, part)
        m = self._marker(window)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise FileFormatError(f"cannot read chunk {p}: {exc.strerror or exc}") from None
        if m is None or part >= len(m["sha256"]) or hashlib.sha256(data).hexdigest() != m["sha256"][part]:
            self.drop_window(window)
            raise FileFormatError(f"chunk {p} is damaged or from another run (sha256 does not match its record); "
                                  "it was dropped: run the same command again to recompute it")
        try:
            with np.load(_bytes_io.BytesIO(data), allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
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


def _file_digest(path: Path) -> tuple[int, str]:
    data = path.read_bytes()
    return len(data), hashlib.sha256(data).hexdigest()
