"""Batches of one model's evaluation, the rows of one window, and the run's bookkeeping.

Nothing here holds more than one batch of logits.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..models import Window
from .settings import Progress, Settings


@dataclass
class Batch:
    logits: np.ndarray
    positions: np.ndarray  # int64 stream positions (row predicts stream[pos + 1])
    targets: np.ndarray  # int32
    window: int


def accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes a parameter called ``name``."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def iter_batches(model: Any, ids: np.ndarray, plan: list[Window], w0: int, settings: Settings,
                 file_starts: Sequence[int] | None = None) -> Iterator[Batch]:
    """Batches of ``model.evaluate`` from window ``w0`` on, with stream positions and window indices.

    The llama scheme's windows are independent, so a resumed run decodes only ``ids[start:]``;
    a sliding or file run resumes through ``evaluate(start_window=...)`` when the models layer
    offers it, else by decoding and discarding the finished windows. ``file_starts`` (the stream's
    file boundaries) is required by scheme 'file'.
    """
    if w0 >= len(plan):
        return
    kwargs: dict[str, Any] = dict(n_ctx=settings.n_ctx, batch=settings.n_batch, scheme=settings.scheme)
    if settings.scheme in ("sliding", "file"):
        kwargs["stride"] = settings.stride
    if settings.scheme == "file":
        if file_starts is None:
            raise InputError("scheme 'file' needs the stream's file boundaries")
        kwargs["file_starts"] = list(file_starts)
    offset, wshift, sub = 0, 0, ids
    if w0 > 0:
        if settings.scheme == "llama":
            offset, wshift = plan[w0].start, w0
            sub = ids[offset: plan[-1].end]
        elif accepts(model.evaluate, "start_window"):
            kwargs["start_window"] = w0
    for eb in model.evaluate(sub, **kwargs):
        w = int(eb.window) + wshift
        if w < w0:
            continue
        if w >= len(plan):  # a part of a run (tokprobe.compare.parts) ends before the stream does
            return
        yield Batch(eb.logits, np.asarray(eb.positions, dtype=np.int64) + offset, np.asarray(eb.targets), w)


class WindowAccumulator:
    """Collects per-row arrays of one window's batches; knows when the window is complete."""

    def __init__(self, plan: list[Window]) -> None:
        self.plan = plan
        self.window: int | None = None
        self.parts: list[dict[str, np.ndarray]] = []
        self.rows = 0

    def add(self, window: int, arrays: dict[str, np.ndarray]) -> bool:
        if self.window is None:
            self.window = window
        elif window != self.window:
            raise RuntimeError(
                f"internal error: window {self.window} ended after {self.rows} of "
                f"{self.plan[self.window].n_scored} scored rows"
            )
        self.parts.append(arrays)
        self.rows += len(arrays["positions"])
        return self.rows >= self.plan[window].n_scored

    def take(self) -> tuple[int, dict[str, np.ndarray]]:
        assert self.window is not None
        parts = self.parts
        arrays = parts[0] if len(parts) == 1 else {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        w = self.window
        expected = self.plan[w].positions
        if not np.array_equal(arrays["positions"], expected):
            raise RuntimeError(
                f"internal error: window {w} scored positions {arrays['positions'][:3]}... "
                f"but the {len(expected)} planned start at {expected[:3]}"
            )
        self.window, self.parts, self.rows = None, [], 0
        return w, arrays


class ProgressCounter:
    """Scored tokens done over all passes, reported to ``callback(done, total)``."""

    def __init__(self, callback: Progress | None, total: int, done: int = 0) -> None:
        self.callback = callback
        self.total = int(total)
        self.done = int(done)

    def start(self) -> None:
        if self.callback is not None:
            self.callback(self.done, self.total)

    def advance(self, n: int) -> None:
        self.done += int(n)
        if self.callback is not None:
            self.callback(self.done, self.total)


class Timings:
    """Seconds spent per phase (``load_s``, ``passes_s``, ...), summed over the run."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def timer(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
