"""Units: the independent pieces a study step splits into when it runs on a cluster.

On a Ray cluster (:class:`tokprobe.study.executors.RayExecutor`) a step does not run as one task: it
splits into units (quantize one ladder level, compare one part of a group's files, complete with one
model, generate and run one shard of HumanEval for one model; :mod:`tokprobe.study.split`), each
submitted as its own task with the CPUs and the memory it needs. The step itself then runs on the
driver and only joins what its units wrote, so its directory ``<run>/steps/<name>/`` holds what the
local runner writes there and is keyed the same way.

A unit is a resumable step of its own in ``<run>/units/<name>/`` (:func:`tokprobe.study.steps.run_in`:
keyed by its inputs, skipped when finished, its files checked): a unit whose worker was killed is
retried by Ray and resumes from its own state; a study run again after a crash or Ctrl-C skips the
finished ones. Once its step is finished, the step's unit directories are removed.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .steps import StepRecord, run_in

UNITS_DIR = "units"
UnitFn = Callable[[Path], dict[str, Any]]


@dataclass
class Unit:
    """``fn(directory) -> info`` writes the unit's files into its directory (``<run>/units/<name>/``)."""

    name: str  # e.g. "compare/group0/part1"
    inputs: dict[str, Any]
    fn: UnitFn
    memory: int = 0  # bytes the planner expects it to need (Ray's memory request)
    cpus: int = 1


def slug(name: str) -> str:
    """``name`` as one path component (a model path or name in a unit's or a step's directory name)."""
    keep = [c if c.isalnum() or c in "-_." else "-" for c in name]
    return "".join(keep).strip("-") or "x"


def unit_dir(run: Path, name: str) -> Path:
    return run / UNITS_DIR / name


def run_units(executor: Any, run: Path, units: Sequence[Unit], log: Callable[[str], None] | None = None
              ) -> list[StepRecord]:
    """Run ``units`` through ``executor`` (all submitted, then collected); their records, in order."""
    submit_units(executor, run, units)
    return collect(executor, log)


def submit_units(executor: Any, run: Path, units: Sequence[Unit]) -> None:
    for u in units:
        executor.submit(u.name, functools.partial(run_in, unit_dir(run, u.name), u.name, u.inputs, u.fn),
                        memory=u.memory, cpus=u.cpus)


def collect(executor: Any, log: Callable[[str], None] | None = None) -> list[Any]:
    """Everything submitted to ``executor``, in order, saying (``log``) as each piece finishes."""
    def done(name: str, result: Any, finished: int, total: int) -> None:
        if log is None:
            return
        skipped = isinstance(result, StepRecord) and result.skipped
        seconds = f" in {result.seconds:.1f} s" if isinstance(result, StepRecord) and not skipped else ""
        log(f"[{finished}/{total}] {name}: {'up to date' if skipped else f'done on a worker{seconds}'}")

    return list(executor.results(on_done=done))


def remove_units(run: Path, step: str) -> None:
    """Drop a finished step's unit directories (the step's own directory holds its results)."""
    shutil.rmtree(run / UNITS_DIR / step, ignore_errors=True)
