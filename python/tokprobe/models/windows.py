"""Scoring windows: which token positions an evaluation decodes together and which rows it scores.

Pure functions over token counts (no llama.cpp), shared by :meth:`Model.evaluate` and every
analysis that needs to know in advance which rows the evaluator yields. Three schemes:

- ``llama`` (the default here and of :meth:`Model.evaluate`; ``tokprobe compare`` defaults to
  ``file``; llama.cpp's ``llama-perplexity`` and its ``--kl-divergence``): the stream
  is cut into ``n_tokens // n_ctx`` windows of ``n_ctx`` tokens (a shorter tail is dropped);
  the first token of each window is replaced by BOS when the vocabulary adds one; rows
  ``j = n_ctx//2 .. n_ctx-2`` of each window are scored (row j predicts token j+1).
- ``sliding``: windows of ``n_ctx`` tokens every ``stride`` tokens (default ``n_ctx // 2``);
  every token after the first is scored exactly once, by the first window that reaches it.
- ``file`` (for source code): each file of the stream (``file_starts``) is its own sequence and
  no window crosses a file boundary. A window is BOS followed by the file's tokens when the
  vocabulary adds BOS (planned as the slot just before the file's tokens, replaced by BOS, so
  the row of BOS predicts -- and scores -- the file's first token); without BOS a window is the
  file's tokens alone and the file's first token is not scored (nothing predicts it). Every other
  token of every file is scored exactly once. A file longer than ``n_ctx`` continues in windows of
  ``n_ctx`` tokens every ``stride`` (default ``n_ctx // 2``) tokens, each starting again with BOS
  and scoring only the tokens no earlier window scored, so every scored row after the first
  window has at least ``n_ctx - stride`` tokens of context. Rows before a window's first scored
  row are decoded in batches of their own with no output (``Window.split``), so only scored rows
  are requested from llama.cpp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import EmptyInputError, InputError

SCHEMES = ("llama", "sliding", "file")


@dataclass(frozen=True)
class Window:
    """A planned window: ids[start:end] (first token replaced by BOS if ``bos_first``), rows
    (local indices) [lo, hi) scored; only tokens [0, hi) need decoding. ``split``: rows [0, lo) are
    decoded in batches of their own (no output), the scored rows in batches starting at ``lo``."""

    index: int
    start: int
    end: int
    bos_first: bool
    lo: int
    hi: int
    split: bool = False

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
            raise InputError("--stride applies to the sliding and file schemes only")
        return None
    stride = int(stride) if stride is not None else max(1, int(n_ctx) // 2)
    if not 1 <= stride <= int(n_ctx) - 1:
        raise InputError(f"stride must be between 1 and n_ctx-1 ({int(n_ctx) - 1}), got {stride}")
    return stride


def plan_windows(n_tokens: int, n_ctx: int, *, scheme: str = "llama", stride: int | None = None,
                 add_bos: bool = False, file_starts: Sequence[int] | None = None) -> list[Window]:
    """The windows an evaluation visits.

    ``llama``: llama.cpp's perplexity/KL scheme: consecutive chunks of ``n_ctx`` tokens (a partial
    last chunk is dropped), the first token of each chunk replaced by BOS when the vocabulary adds
    BOS, rows ``j`` in ``[n_ctx//2, n_ctx-2]`` scored.

    ``sliding``: windows of ``n_ctx`` tokens starting every ``stride`` tokens (default ``n_ctx//2``);
    every target ``ids[1:]`` is scored exactly once, by the first window that contains its context
    end. When the vocabulary adds BOS, windows after the first start with BOS (replacing their first
    token, whose row is then not scored), so ``stride`` may be at most ``n_ctx - 1``.

    ``file``: ``file_starts`` (ascending stream offsets of each file's first token; file ``i`` ends
    where file ``i + 1`` starts, the last at ``n_tokens``; default: one file from 0) cut the stream
    into files, and each file is planned like ``sliding`` on its own (see the module docstring).
    With ``add_bos`` every file must start at offset >= 1 (the slot that BOS replaces).
    """
    if scheme not in SCHEMES:
        raise InputError(f"unknown scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    if n_tokens < 2:
        raise EmptyInputError(f"need at least 2 tokens to score anything, got {n_tokens}")
    if scheme == "llama":
        return _llama_windows(n_tokens, n_ctx, stride, add_bos)
    if scheme == "file":
        return _file_windows(n_tokens, n_ctx, stride, add_bos, file_starts)
    if file_starts is not None:
        raise InputError("file_starts applies to scheme 'file' only")
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


def _file_windows(n_tokens: int, n_ctx: int, stride: int | None, add_bos: bool,
                  file_starts: Sequence[int] | None) -> list[Window]:
    if n_ctx < 2:
        raise InputError(f"n_ctx must be at least 2, got {n_ctx}")
    if stride is None:
        stride = max(1, n_ctx // 2)
    max_stride = n_ctx - 2 if add_bos else n_ctx - 1  # with BOS, a later window's BOS row is never scored
    if not 1 <= stride <= max_stride:
        raise InputError(f"stride must be in [1, {max_stride}] for scheme 'file' with n_ctx={n_ctx}"
                         + (" (every window starts with BOS)" if add_bos else "") + f", got {stride}")
    starts = [int(x) for x in (file_starts if file_starts is not None else [0])]
    if any(b < a for a, b in zip(starts, starts[1:], strict=False)) or (starts and not 0 <= starts[0]):
        raise InputError("file_starts must be ascending stream offsets")
    if starts and starts[-1] > n_tokens:
        raise InputError(f"file_starts go past the {n_tokens} tokens of the stream")
    if add_bos and starts and starts[0] < 1:
        raise InputError("scheme 'file' with BOS needs a slot before the first file (a stream starting with BOS)")
    out: list[Window] = []
    ends = [*starts[1:], n_tokens]
    for fs, fe in zip(starts, ends, strict=True):
        a = fs - 1 if add_bos else fs  # the first slot of the file's sequence (BOS when it adds one)
        _file_sequence_windows(out, a, fe, n_ctx, stride, add_bos)
    if not out:
        raise EmptyInputError("scheme 'file': no file has a token to score")
    return out


def _file_sequence_windows(out: list[Window], a: int, b: int, n_ctx: int, stride: int, add_bos: bool) -> None:
    """Append the windows of one file's sequence ``[a, b)`` of stream slots (rows a .. b-2 scored)."""
    scored_until = a
    start = a
    while scored_until <= b - 2:
        end = min(start + n_ctx, b)
        lo = max(scored_until, start + (1 if add_bos and start > a else 0)) - start
        hi = min(end, b - 1) - start
        out.append(Window(len(out), start, end, add_bos, lo, hi, split=True))
        scored_until = start + hi
        start += stride
