"""Scoring schemes: which token positions are decoded together and which rows are scored.

The plan is ``tokprobe.models``' own (:func:`tokprobe.models.model.plan_windows`), so the
comparison knows in advance exactly which rows ``Model.evaluate`` yields (it checks every
window it receives against it). Summary of the schemes:

- ``llama`` (default; llama.cpp's ``llama-perplexity`` and its ``--kl-divergence``): the stream
  is cut into ``n_tokens // n_ctx`` windows of ``n_ctx`` tokens (a shorter tail is dropped);
  the first token of each window is replaced by BOS when the vocabulary adds one; rows
  ``j = n_ctx//2 .. n_ctx-2`` of each window are scored (row j predicts token j+1), i.e.
  ``n_ctx - 1 - n_ctx//2`` tokens per window.
- ``sliding``: windows of ``n_ctx`` tokens every ``stride`` tokens (default ``n_ctx // 2``);
  every token after the first is scored exactly once, by the first window that reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

SCHEMES = ("llama", "sliding")


@dataclass(frozen=True)
class Window:
    index: int
    start: int  # first token of the window in the stream
    end: int  # one past the last token
    first_row: int  # first scored row (stream position start + first_row predicts the next token)
    last_row: int  # one past the last scored row

    @property
    def n_scored(self) -> int:
        return self.last_row - self.first_row

    @property
    def positions(self) -> np.ndarray:
        return np.arange(self.start + self.first_row, self.start + self.last_row, dtype=np.int64)


def check_scheme(scheme: str, n_ctx: int, stride: int | None) -> int | None:
    """Validate the options early (before any model is opened); returns the effective stride."""
    if scheme not in SCHEMES:
        raise InputError(f"unknown scoring scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if int(n_ctx) < 4:
        raise InputError(f"context length must be at least 4 tokens, got {n_ctx}")
    if scheme == "llama":
        if stride is not None:
            raise InputError("--stride applies to the sliding scheme only")
        return None
    stride = int(stride) if stride is not None else max(1, int(n_ctx) // 2)
    if not 1 <= stride <= int(n_ctx) - 1:
        raise InputError(f"stride must be between 1 and n_ctx-1 ({int(n_ctx) - 1}), got {stride}")
    return stride


def plan_windows(n_tokens: int, n_ctx: int, scheme: str = "llama", stride: int | None = None,
                 add_bos: bool = False) -> list[Window]:
    """The windows ``Model.evaluate`` visits for a stream of ``n_tokens`` tokens.

    Raises :class:`~tokprobe.errors.EmptyInputError` when the stream is too short to score anything.
    """
    from ..models.model import plan_windows as _plan

    stride = check_scheme(scheme, n_ctx, stride)
    return [Window(w.index, w.start, w.end, w.lo, w.hi)
            for w in _plan(int(n_tokens), int(n_ctx), scheme=scheme, stride=stride, add_bos=bool(add_bos))]
