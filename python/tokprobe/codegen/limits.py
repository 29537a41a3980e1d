"""Per-program limits of the sandbox and the resource limits the child sets from them.

The child (``_child.py``) applies them as rlimits before it runs the program: RLIMIT_CPU,
RLIMIT_AS (memory), RLIMIT_FSIZE (largest file), RLIMIT_NPROC (processes), RLIMIT_NOFILE, no core
dumps, and a size for the private tmpfs. The wall-clock timeout is enforced by the parent.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InputError
from .procs import leftover_processes


@dataclass(frozen=True)
class Limits:
    """Per-program limits. ``cpu_s`` defaults to ``timeout_s`` (rounded up)."""

    timeout_s: float = 10.0
    cpu_s: int | None = None
    memory_bytes: int = 1 << 30
    fsize_bytes: int = 16 << 20
    nproc: int = 16
    nofile: int = 256
    tmpfs_bytes: int = 32 << 20

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise InputError(f"timeout must be > 0 s, got {self.timeout_s}")
        if self.cpu_s is not None and self.cpu_s < 1:
            raise InputError(f"CPU limit must be >= 1 s, got {self.cpu_s}")
        if self.memory_bytes < 64 << 20:
            raise InputError("memory limit must be at least 64 MiB (the interpreter needs it)")
        if self.nproc < 1 or self.nofile < 16 or self.fsize_bytes < 0:
            raise InputError("nproc must be >= 1, nofile >= 16 and fsize >= 0")

    @property
    def cpu_limit(self) -> int:
        return int(self.cpu_s if self.cpu_s is not None else max(1, -(-self.timeout_s // 1)))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cpu_s"] = self.cpu_limit
        return d


SLOT_OVERHEAD = 3  # processes of one slot besides the program's own: the driver, the namespace init, the program


def user_nproc(extra: int) -> int:
    """Non-root: RLIMIT_NPROC counts all processes of our user, so allow current + ``extra``."""
    me = os.getuid()
    return len(leftover_processes(uid=me)) + 1 + extra


def shared_nproc(limits: Limits, jobs: int) -> int:
    """Non-root: one RLIMIT_NPROC for every slot, counted once when the sandbox starts (our processes
    then, plus ``nproc`` and the slot's own processes for each of ``jobs`` slots). Counting per program
    instead raced with the other slots' programs, which are our processes too."""
    return user_nproc(jobs * (limits.nproc + SLOT_OVERHEAD))


def child_limits(limits: Limits, uid: int | None, nproc_budget: int | None = None) -> dict[str, Any]:
    """The rlimit part of the child's configuration; ``uid`` is the slot's uid (None: our own, then
    ``nproc_budget`` from :func:`shared_nproc`, or counted now)."""
    if uid is not None:
        nproc = limits.nproc
    else:
        nproc = nproc_budget if nproc_budget is not None else user_nproc(limits.nproc)
    return {
        "cpu_s": limits.cpu_limit,
        "memory_bytes": limits.memory_bytes,
        "fsize_bytes": limits.fsize_bytes,
        "nproc": nproc,
        "nofile": limits.nofile,
        "tmpfs_bytes": limits.tmpfs_bytes,
    }
