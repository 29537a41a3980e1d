"""Scoring with a loaded model: the streaming evaluator and next-token logits after given contexts.

The evaluator never copies logits: after each ``llama_decode`` it wraps llama.cpp's own output
buffer (``llama_get_logits``) in a float32 numpy view ``[rows, n_vocab]`` and yields it. Only the
rows that are scored are requested from llama.cpp, so the buffer holds exactly those rows, in order,
at most ``OUT_ROWS`` (64) of them per decode. Memory is O(64 x vocab) whatever the length of the text
and the batch size: one context, one ``llama_batch``, one output buffer owned by llama.cpp.

These functions are the bodies of :meth:`Model.evaluate`, :meth:`Model.logits_after`,
:meth:`Model.logits_all` and :meth:`Model.logits_for_contexts` (documented there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EmptyInputError, InputError
from .context import LlamaContext
from .vocab import as_token_array
from .windows import Window, plan_windows

if TYPE_CHECKING:
    from .model import Model

Progress = Callable[[int, int], None]


@dataclass
class EvalBatch:
    """One batch of scored rows. ``logits`` is a read-only view of llama.cpp's buffer, valid until the
    iterator advances (copy it to keep it). Row ``r`` is the distribution after ``ids[positions[r]]``,
    i.e. the prediction of ``targets[r] == ids[positions[r] + 1]``."""

    logits: np.ndarray  # float32 [rows, n_vocab], zero-copy
    positions: np.ndarray  # int64 [rows], index into ids
    targets: np.ndarray  # int32 [rows]
    window: int  # index of the window (chunk) this batch belongs to
    window_pos: np.ndarray  # int32 [rows], position inside the window (context length - 1)

    @property
    def rows(self) -> int:
        return int(self.positions.shape[0])


def evaluate(model: Model, ids: Any, *, n_ctx: int | None = None, batch: int | None = None,
             scheme: str = "llama", stride: int | None = None, progress: Progress | None = None,
             start_window: int = 0, file_starts: Sequence[int] | None = None) -> Iterator[EvalBatch]:
    """:meth:`Model.evaluate`: arguments are checked here, before the first batch is produced."""
    if model.vocab_only:
        raise InputError(f"{model.name}: loaded with vocab_only=True; load it without vocab_only to evaluate")
    arr = as_token_array(ids, model.n_vocab)
    n_ctx = int(n_ctx) if n_ctx is not None else model.n_ctx
    if n_ctx < 2:
        raise InputError(f"n_ctx must be at least 2, got {n_ctx}")
    if batch is None:
        batch = min(model.n_batch, n_ctx)
        if scheme == "llama" and 1 <= n_ctx // 2 <= model.n_batch:
            batch = n_ctx // 2
    batch = int(batch)
    if batch < 1:
        raise InputError(f"batch must be at least 1, got {batch}")
    batch = min(batch, n_ctx)
    windows = plan_windows(len(arr), n_ctx, scheme=scheme, stride=stride, add_bos=model.vocab.add_bos,
                           file_starts=file_starts)
    if not 0 <= int(start_window) <= len(windows):
        raise InputError(f"start_window must be in [0, {len(windows)}], got {start_window}")
    windows = windows[int(start_window):]
    ctx = model.ensure_context(n_ctx, batch)
    return iter_batches(ctx, arr, windows, batch, model.n_vocab, model.vocab.bos_id, progress)


def iter_batches(ctx: LlamaContext, arr: np.ndarray, windows: list[Window], batch: int, n_vocab: int, bos: int,
                 progress: Progress | None) -> Iterator[EvalBatch]:
    """Decode each window of ``arr`` from an empty KV cache in batches of ``batch`` tokens and yield
    the scored rows of each batch (the context is claimed on the first ``next``)."""
    token = ctx.claim()
    ctx.reset_seq_ids()
    total = sum(w.n_scored for w in windows)
    done = 0
    tok, pos, flags, arange = ctx.tok, ctx.pos, ctx.flags, ctx.arange
    if progress is not None:
        progress(0, total)
    for w in windows:
        ctx.check_owner(token)
        ctx.clear_memory()
        for k, nb in batch_spans(w, batch, ctx.out_rows):
            ctx.check_owner(token)
            tok[:nb] = arr[w.start + k:w.start + k + nb]
            if k == 0 and w.bos_first:
                tok[0] = bos
            pos[:nb] = arange[:nb] + k
            # batch_spans puts unscored and scored rows in separate decodes: the first output
            # nothing, the others output every row, at most ctx.out_rows of them.
            scored = k >= w.lo
            flags[:nb] = 1 if scored else 0
            ctx.decode(nb)
            if not scored:
                continue
            local = np.arange(k, k + nb, dtype=np.int32)
            positions = local.astype(np.int64) + w.start
            yield EvalBatch(
                logits=ctx.logits_view(nb, n_vocab),
                positions=positions,
                targets=arr[positions + 1],
                window=w.index,
                window_pos=local,
            )
            done += nb
            if progress is not None:
                progress(done, total)


def batch_spans(w: Window, batch: int, out_rows: int | None = None) -> list[tuple[int, int]]:
    """(first local index, token count) of each decode of window ``w``: the unscored rows [0, lo) in
    batches of ``batch`` (no output), then the scored rows [lo, hi) in batches of at most
    ``min(batch, out_rows)``, each outputting all its rows. Only scored rows reach the output layer
    (about 60 % of a small model's per-row cost for a 262k vocabulary) and llama.cpp's logits and
    compute buffers hold ``out_rows`` rows, not ``batch``."""
    step = max(1, min(batch, out_rows or batch))
    head = [(k, min(batch, w.lo - k)) for k in range(0, w.lo, batch)]
    return head + [(k, min(step, w.hi - k)) for k in range(w.lo, w.hi, step)]


def logits_after(model: Model, context_ids: Any) -> np.ndarray:
    """:meth:`Model.logits_after`: float32[V] (a copy) after ``context_ids`` in a fresh context."""
    arr = as_token_array(context_ids, model.n_vocab, "context ids")
    if arr.size == 0:
        raise EmptyInputError("logits_after needs at least one context token (e.g. BOS)")
    ctx = model.ensure_context(int(arr.size), 1)
    ctx.claim()
    ctx.reset_seq_ids()
    ctx.clear_memory()
    nb = ctx.prefill(arr, all_rows=True)
    out: np.ndarray = ctx.logits_view(nb, model.n_vocab)[nb - 1].copy()
    ctx.claim()
    return out


def logits_all(model: Model, ids: Any) -> np.ndarray:
    """:meth:`Model.logits_all`: float32[n, V] (a copy) of every position, in ONE ``llama_decode`` call."""
    arr = as_token_array(ids, model.n_vocab)
    if arr.size == 0:
        raise EmptyInputError("logits_all needs at least one token")
    n = int(arr.size)
    ctx = model.ensure_context(n, n)
    ctx.claim()
    ctx.reset_seq_ids()
    ctx.clear_memory()
    ctx.tok[:n] = arr
    ctx.pos[:n] = ctx.arange[:n]
    ctx.flags[:n] = 1
    ctx.decode(n)
    out = ctx.logits_view(n, model.n_vocab).copy()
    ctx.claim()
    return out


def logits_for_contexts(model: Model, contexts: Sequence[Any]) -> np.ndarray:
    """:meth:`Model.logits_for_contexts`: float32[n, V], the contexts packed as separate sequences."""
    arrs = [as_token_array(c, model.n_vocab, f"context {i}") for i, c in enumerate(contexts)]
    for i, a in enumerate(arrs):
        if a.size == 0:
            raise EmptyInputError(f"context {i} is empty; give at least one token (e.g. BOS)")
    out = np.empty((len(arrs), model.n_vocab), dtype=np.float32)
    if not arrs:
        return out
    ctx = model.ensure_context(max(a.size for a in arrs), 1)
    ctx.claim()
    i = 0
    while i < len(arrs):
        if arrs[i].size > ctx.cap:  # a context longer than a batch: decode it on its own
            ctx.reset_seq_ids()
            ctx.clear_memory()
            nb = ctx.prefill(arrs[i], all_rows=False)
            out[i] = ctx.logits_view(nb, model.n_vocab)[nb - 1]
            i += 1
            continue
        group = _next_group(arrs, i, ctx.n_seq_max, min(ctx.cap, ctx.n_ctx))
        _decode_group(ctx, group)
        out[i:i + len(group)] = ctx.logits_view(len(group), model.n_vocab)
        i += len(group)
    ctx.reset_seq_ids()
    ctx.claim()
    return out


def _next_group(arrs: list[np.ndarray], i: int, max_seq: int, max_tokens: int) -> list[np.ndarray]:
    """The contexts from ``arrs[i]`` on that fit one decode: at most ``max_seq`` of them, ``max_tokens`` in all."""
    group: list[np.ndarray] = []
    used = 0
    while (i + len(group) < len(arrs) and len(group) < max_seq
           and used + arrs[i + len(group)].size <= max_tokens):
        used += arrs[i + len(group)].size
        group.append(arrs[i + len(group)])
    return group


def _decode_group(ctx: LlamaContext, group: list[np.ndarray]) -> None:
    """Decode ``group`` as sequences 0, 1, ... of one batch into a cleared KV cache, one output row each."""
    ctx.clear_memory()
    r = 0
    for s, a in enumerate(group):
        m = a.size
        ctx.tok[r:r + m] = a
        ctx.pos[r:r + m] = ctx.arange[:m]
        ctx.flags[r:r + m] = 0
        ctx.flags[r + m - 1] = 1  # one output row per sequence, in order
        ctx.set_seq_ids(r, r + m, s)
        r += m
    ctx.decode(r)
