"""A comparison split into parts (:func:`tokprobe.compare.engine.compare_part`) and put back together.

Each window is decoded on its own (its own KV state, its own batches), so the chunk files a part writes
for its windows are byte for byte the ones a whole run writes. A part's stores live under its own
``run_dir`` (``state/<store key>/``) and ``cache_dir`` (``<reference cache key>-<kind>/``), keyed exactly
as a whole run's; :func:`join_parts` puts the chunks and done markers of every part into one run
directory and one cache directory (hard links where the file system allows, else copies). The
manifests are not joined: the run that gathers opens its stores afresh (same keys) and records them
whole. The self floor comes from the ``state/floor-*.json`` of the part that holds window 0.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from ..models import Window

_NOT_JOINED = ("manifest.json", ".tokprobe.lock")


def part_windows(windows: list[Window], part: int, parts: int) -> list[Window]:
    """Part ``part`` of ``parts`` of ``windows``: contiguous runs of about equal scored tokens (a window goes
    to the part that holds the middle of its scored rows; a part may be empty when windows are few)."""
    total = max(sum(w.n_scored for w in windows), 1)
    out, before = [], 0
    for w in windows:
        middle = before + w.n_scored / 2
        before += w.n_scored
        if min(parts - 1, int(middle * parts / total)) == part:
            out.append(w)
    return out


def _put(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        if os.path.samefile(src, dst) or _same_bytes(src, dst):
            return  # already joined (a step run again, or a reference cache an earlier run made)
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(src, dst)


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def _join_tree(sources: Iterable[Path], target: Path) -> int:
    n = 0
    for root in sources:
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.name not in _NOT_JOINED and not p.name.endswith(".tmp"):
                _put(p, target / p.relative_to(root))
                n += 1
    return n


def join_parts(parts: Iterable[tuple[Path, Path]], run_dir: Path, cache_dir: Path) -> int:
    """Put the chunk files of every ``(part run_dir, part cache_dir)`` into ``run_dir`` and ``cache_dir``;
    returns the number of files joined."""
    chosen = list(parts)
    n = _join_tree((r / "state" for r, _ in chosen), run_dir / "state")
    return n + _join_tree((c for _, c in chosen), cache_dir)
