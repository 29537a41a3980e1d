"""Which mode a comparison runs in, chosen before any model is loaded so that it fits in memory.

Lock-step holds the reference and every variant at once (peak: the process plus every model's
estimate, :mod:`tokprobe.models.memory`); the cached modes hold one model at a time (the process plus
the largest model plus the vocab-only handle every model keeps open for the run). Both sums were
checked against measured peak RSS of the default ladder (``benchmarks/bench_memory.py``). Mode ``auto`` (the default)
takes lock-step when it fits the budget and the exact cached reference otherwise; an explicit mode
that does not fit, or a run whose smallest plan does not fit, stops with a one-line error before
anything is loaded. The budget defaults to 80 % of the memory available now.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import InputError
from ..models.memory import PROCESS_BYTES, MemoryEstimate, available_memory, estimate_file

AUTO = "auto"
DEFAULT_SHARE = 0.8  # of MemAvailable: the rest for the page cache and the other processes
GIB = 2**30
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``'8G'``, ``'512M'``, ``'16GiB'``, ``'2.5g'`` or a plain byte count -> bytes."""
    m = _SIZE.match(str(text))
    if m is None:
        raise InputError(f"memory budget {text!r}: give a size such as 8G, 512M or 16GiB")
    scale = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[m.group(2).lower()]
    value = int(float(m.group(1)) * scale)
    if value <= 0:
        raise InputError(f"memory budget {text!r} must be positive")
    return value


@dataclass
class MemoryPlan:
    """The chosen mode, the budget and the estimates behind the choice (bytes)."""

    requested: str
    mode: str
    budget: int
    models: list[MemoryEstimate] = field(default_factory=list)
    process: int = PROCESS_BYTES

    @property
    def lockstep_peak(self) -> int:
        return self.process + sum(m.total for m in self.models)

    @property
    def cached_peak(self) -> int:
        # one model loaded at a time, but every model's vocab-only handle stays open for the run
        largest = max((m.total for m in self.models), default=0)
        return self.process + largest + sum(m.vocab for m in self.models)

    @property
    def peak(self) -> int:
        return self.lockstep_peak if self.mode == "lockstep" else self.cached_peak

    def to_dict(self) -> dict[str, Any]:
        return {"requested": self.requested, "mode": self.mode, "budget": self.budget, "peak": self.peak,
                "lockstep_peak": self.lockstep_peak, "cached_peak": self.cached_peak, "process": self.process,
                "models": [m.to_dict() for m in self.models]}

    def table(self) -> pd.DataFrame:
        """One row per model (MiB by part) plus the peak of each mode, for ``--plan``."""
        rows = [{k: (round(v / 2**20, 1) if isinstance(v, int) else v) for k, v in m.to_dict().items()}
                for m in self.models]
        for name, value in (("process", self.process), ("peak, lock-step", self.lockstep_peak),
                            ("peak, cached reference", self.cached_peak), ("budget", self.budget)):
            rows.append({"model": name, "total": round(value / 2**20, 1)})
        return pd.DataFrame(rows)


def _gib(n: int) -> str:
    return f"{n / GIB:.2f} GiB"


def plan_memory(paths: Sequence[str | os.PathLike[str]], *, mode: str, n_ctx: int, n_batch: int,
                budget: int | None = None) -> MemoryPlan:
    """The plan for the reference then the variants at ``paths`` (see the module)."""
    limit = int(budget) if budget is not None else int(DEFAULT_SHARE * available_memory())
    plan = MemoryPlan(requested=mode, mode=mode, budget=limit,
                      models=[estimate_file(p, n_ctx=n_ctx, n_batch=n_batch) for p in paths])
    if mode == AUTO:
        plan.mode = "lockstep" if plan.lockstep_peak <= limit else "cache-exact"
    if plan.peak > limit:
        hint = ("; --mode cache-exact holds one model at a time "
                f"({_gib(plan.cached_peak)})") if plan.mode == "lockstep" and plan.cached_peak <= limit else ""
        raise InputError(f"mode {plan.mode} needs about {_gib(plan.peak)} but the memory budget is {_gib(limit)}"
                         f"{hint} (--memory-budget; --plan shows the estimate per model)")
    return plan
