"""Content-keyed, resumable study steps.

Each step writes into its own directory ``<run>/steps/<name>/``; a ``step.json`` written last
(atomically) records the step's key and its time. A re-run whose key matches skips the step; a
step interrupted half-way has no ``step.json`` and runs again from its own resume state (the
analyses themselves keep finished chunks). The key is a hash of the step's inputs: model file
hashes, corpus digest, settings and the tokprobe / llama-cpp-python versions.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import io
from .._version import __version__
from ..hashing import stable_hash
from ..provenance import llama_cpp_version

STEP_FILE = "step.json"


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


def step_done(directory: Path, key: str) -> dict[str, Any] | None:
    marker = directory / STEP_FILE
    if not marker.is_file():
        return None
    try:
        meta = io.read_json(marker)
    except (OSError, ValueError):
        return None
    return meta if meta.get("key") == key else None


def run_step(
    run_dir: Path,
    name: str,
    inputs: dict[str, Any],
    fn: Callable[[Path], dict[str, Any]],
    *,
    log: Callable[[str], None] | None = None,
) -> StepRecord:
    """Run ``fn(step_dir) -> info`` unless a finished step with the same key is already there."""
    directory = run_dir / "steps" / name
    key = step_key(inputs)
    meta = step_done(directory, key)
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
                           "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return StepRecord(name, key, seconds, False, info, directory)
