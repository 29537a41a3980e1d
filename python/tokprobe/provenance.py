"""Provenance recorded in every result: versions, model hashes, settings, hardware."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ._version import __version__


def llama_cpp_version() -> str:
    """Version of llama-cpp-python (which pins the llama.cpp source it compiled)."""
    try:
        from importlib import metadata

        return metadata.version("llama-cpp-python")
    except Exception:  # not installed: core-only use
        return "not installed"


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def hardware() -> dict[str, Any]:
    return {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cores": available_cores(),
        "system": platform.system(),
        "python": platform.python_version(),
    }


@dataclass
class Provenance:
    """What produced a result. ``models`` maps a role or name to {path, sha256, ...}."""

    settings: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    tokprobe_version: str = __version__
    llama_cpp_python_version: str = field(default_factory=llama_cpp_version)
    hardware: dict[str, Any] = field(default_factory=hardware)
    created_utc: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
