"""Scoring windows: which token positions an evaluation decodes together and which rows it scores.

Pure functions over token counts (no llama.cpp), shared by :meth:`Model.evaluate` and every
analysis that needs to know in advance which rows the evaluator yields. Two schemes:

- ``llama`` (default; llama.cpp's ``llama-perplexity`` and its ``--kl-divergence``): the stream
  is cut into ``n_tokens // n_ctx`` windows of ``n_ctx`` tokens (a shorter tail is dropped);
  the first token of each window is replaced by BOS when the vocabulary adds one; rows
  ``j = n_ctx//2 .. n_ctx-2`` of each window are scored (row j predicts token j+1).
- ``sliding``: windows of ``n_ctx`` tokens every ``stride`` tokens (default ``n_ctx // 2``);
  every token after the first is scored exactly once, by the first window that reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EmptyInputError, InputError

SCHEMES = ("llama", "sliding")


@dataclass(frozen=True)
class Window:
    """A planned window: ids[start:end] (first token replaced by BOS if ``bos_first``), rows
    (local indices) [lo, hi) scored; only tokens [0, hi) need decoding."""

    index: int
    start: int
    end: int
    bos_first: bool
    lo: int
    hi: int

    @property
    def n_scored(self) -> int:
        return self.hi - self.lo

    @property
    def positions(self) -> np.ndarray:
        """int64 stream positions of the scored rows (position p predicts token p + 1)."""
        return np.arange(self.start + self.lo, self.start + self.hi, dtype=np.int64)


def check_scheme(scheme: str, n_ctx: int, stride: int | None) -> int | None:
    """Validate scheme options early (before any model is opened); returns the effective stride."""
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


def plan_windows(n_tokens: int, n_ctx: int, *, scheme: str = "llama", stride: int | None = None,
                 add_bos: bool = False) -> list[Window]:
    """The windows an evaluation visits.

    ``llama``: llama.cpp's perplexity/KL scheme: consecutive chunks of ``n_ctx`` tokens (a partial
    last chunk is dropped), the first token of each chunk replaced by BOS when the vocabulary adds
    BOS, rows ``j`` in ``[n_ctx//2, n_ctx-2]`` scored.

    ``sliding``: windows of ``n_ctx`` tokens starting every ``stride`` tokens (default ``n_ctx//2``);
    every target ``ids[1:]`` is scored exactly once, by the first window that contains its context
    end. When the vocabulary adds BOS, windows after the first start with BOS (replacing their first
    token, whose row is then not scored), so ``stride`` may be at most ``n_ctx - 1``.
    """
    if scheme not in SCHEMES:
        raise InputError(f"unknown scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    if n_tokens < 2:
        raise EmptyInputError(f"need at least 2 tokens to score anything, got {n_tokens}")
    if scheme == "llama":
        return _llama_windows(n_tokens, n_ctx, stride, add_bos)
    return _sliding_windows(n_tokens, n_ctx, stride, add_bos)


def _llama_windows(n_tokens: int, n_ctx: int, stride: int | None, add_bos: bool) -> list[Window]:
    if n_ctx < 4:
        raise InputError(f"n_ctx must be at least 4 for scheme 'llama', got {n_ctx}")
    if stride is not None:
        raise InputError("stride applies to scheme 'sliding' only")
    n_chunks = n_tokens // n_ctx
    if n_chunks == 0:
        raise EmptyInputError(f"scheme 'llama' needs at least n_ctx={n_ctx} tokens, the text has {n_tokens}; "
                              "use a smaller n_ctx or scheme 'sliding'")
    return [Window(c, c * n_ctx, (c + 1) * n_ctx, add_bos, n_ctx // 2, n_ctx - 1) for c in range(n_chunks)]


def _sliding_windows(n_tokens: int, n_ctx: int, stride: int | None, add_bos: bool) -> list[Window]:
    if n_ctx < 2:
        raise InputError(f"n_ctx must be at least 2, got {n_ctx}")
    shift = 1 if add_bos else 0
    max_stride = n_ctx - shift
    if stride is None:
        stride = max(1, n_ctx // 2)
    if not 1 <= stride <= max_stride:
        raise InputError(f"stride must be in [1, {max_stride}] for n_ctx={n_ctx}"
                         + (" (windows after the first start with BOS)" if shift else "") + f", got {stride}")
    out: list[Window] = []
    scored_until = 0  # next position to score
    start = 0
    while scored_until <= n_tokens - 2:
        end = min(start + n_ctx, n_tokens)
        bos_first = bool(shift) and start > 0
        lo = max(scored_until, start + (1 if bos_first else 0)) - start
        hi = min(end, n_tokens - 1) - start
        out.append(Window(len(out), start, end, bos_first, lo, hi))
        scored_until = start + hi
        start += stride
    return out
