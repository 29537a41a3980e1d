"""Content-keyed, resumable study steps.

Each step writes into its own directory ``<run>/steps/<name>/``; a ``step.json`` written last
(atomically) records the step's key and its time. A re-run whose key matches skips the step; a
step interrupted half-way has no ``step.json`` and runs again from its own resume state (the
analyses themselves keep finished chunks). The key is a hash of the step's inputs: model file
hashes, corpus digest, settings and the tokprobe / llama-cpp-python versions.

``step.json`` also records the size and sha256 of every file the step wrote. A finished step whose
files no longer match (a CSV cut at a line boundary, a truncated file, one copied from another run)
is not trusted: it runs again, and the log says why. :func:`verify_steps` checks every finished step
before the report reads them.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import io
from .._version import __version__
from ..errors import FileFormatError
from ..hashing import stable_hash
from ..provenance import llama_cpp_version

STEP_FILE = "step.json"
_NOT_RESULTS = (".tokprobe.lock",)  # lock files of the analyses' run directories


def file_digests(directory: Path) -> dict[str, list[Any]]:
    """``{relative path: [size, sha256]}`` of every file under ``directory`` but the step marker."""
    out: dict[str, list[Any]] = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file() and p.name != STEP_FILE and p.name not in _NOT_RESULTS and not p.name.endswith(".tmp"):
            h = hashlib.sha256()
            with open(p, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            out[p.relative_to(directory).as_posix()] = [p.stat().st_size, h.hexdigest()]
    return out


def damage(directory: Path, meta: dict[str, Any]) -> str | None:
    """What is wrong with a finished step's files (None when they are what it wrote)."""
    files = meta.get("files")
    if not isinstance(files, dict):
        return "it was written without file digests"
    for rel, rec in files.items():
        p = directory / rel
        try:
            size = p.stat().st_size
        except OSError:
            return f"{rel} is missing"
        if size != rec[0]:
            return f"{rel} has {size} bytes, {rec[0]} were written"
    now = file_digests(directory)
    for rel, rec in files.items():
        if now.get(rel, [None, None])[1] != rec[1]:
            return f"{rel} differs from what the step wrote (sha256)"
    return None


def step_key(inputs: dict[str, Any]) -> str:
    payload = {"inputs": inputs, "tokprobe": __version__, "llama_cpp_python": llama_cpp_version()}
    return stable_hash(payload, 16)


@dataclass
class StepRecord:
    name: str
    key: str
    seconds: float
    skipped: bool
    info: dict[str, Any]
    directory: Path


def step_done(directory: Path, key: str, log: Callable[[str], None] | None = None) -> dict[str, Any] | None:
    """The marker of a finished step with this key whose files are intact, else None (logged when damaged)."""
    meta = _marker(directory)
    if meta is None or meta.get("key") != key:
        return None
    problem = damage(directory, meta)
    if problem is not None:
        if log:
            log(f"{directory.name}: stored results are damaged ({problem}); recomputing")
        return None
    return meta


def _marker(directory: Path) -> dict[str, Any] | None:
    marker = directory / STEP_FILE
    if not marker.is_file():
        return None
    try:
        meta = io.read_json(marker)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def verify_steps(run_dir: Path) -> None:
    """Raise one FileFormatError line if any finished step of ``run_dir`` has damaged files."""
    steps = run_dir / "steps"
    for directory in sorted(steps.iterdir()) if steps.is_dir() else []:
        meta = _marker(directory)
        problem = damage(directory, meta) if meta is not None else None
        if problem is not None:
            raise FileFormatError(f"stored results of study step {directory.name!r} in {run_dir} are damaged "
                                  f"({problem}); run the study again with that step to recompute it")


def run_step(
    run_dir: Path,
    name: str,
    inputs: dict[str, Any],
    fn: Callable[[Path], dict[str, Any]],
    *,
    log: Callable[[str], None] | None = None,
) -> StepRecord:
    """Run ``fn(step_dir) -> info`` unless a finished step with the same key is already there."""
    return run_in(run_dir / "steps" / name, name, inputs, fn, log=log)


def run_in(
    directory: Path,
    name: str,
    inputs: dict[str, Any],
    fn: Callable[[Path], dict[str, Any]],
    *,
    log: Callable[[str], None] | None = None,
) -> StepRecord:
    """:func:`run_step` in ``directory`` (a study unit's, :mod:`tokprobe.study.units`, is under ``<run>/units/``)."""
    key = step_key(inputs)
    meta = step_done(directory, key, log)
    if meta is not None:
        if log:
            log(f"{name}: up to date (key {key}), skipped")
        return StepRecord(name, key, float(meta.get("seconds", 0.0)), True, meta.get("info", {}), directory)
    marker = directory / STEP_FILE
    if marker.exists():
        # Inputs changed: the old results describe something else.
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if log:
        log(f"{name}: running")
    t0 = time.perf_counter()
    info = fn(directory) or {}
    seconds = time.perf_counter() - t0
    io.write_json(marker, {"name": name, "key": key, "seconds": seconds, "inputs": inputs, "info": info,
                           "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "files": file_digests(directory)})
    return StepRecord(name, key, seconds, False, info, directory)
