"""Greedy generation of many continuations of one token stream, sharing its prefill.

Completion probes of one file all continue a prefix of the same token stream: probe ``k`` takes
``ids[:cut_k]`` as its prompt. :func:`generate_branches` decodes the stream ONCE, up to the last
cut, in sequence 0 (its batches output only the rows ``cut_k - 1``, whose argmax is each probe's
first token), then branches the probes from that KV state: ``llama_memory_seq_cp(mem, 0, s, 0, cut)``
gives sequence ``s`` the cells of positions ``[0, cut)`` (a tag on shared cells of the unified KV
cache, no copy of data), and the probes are decoded together, one token per live sequence per
``llama_decode``, so a step computes its rows as one matrix product instead of one vector product
per probe. A sequence stops at an end-of-generation token, when ``stop`` says so, or after
``max_tokens``; its cells are removed and the next waiting probe takes its place.

Greedy (argmax, first index on ties, as llama.cpp's greedy sampler) is the only decoding rule: the
result is meant to equal :meth:`Model.generate` at temperature 0 on each prompt (checked by the
tests on tiny models; llama.cpp's kernels are row-count dependent, so a near-tie may flip on a real
model: the benchmark measures how often).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from .context import MAX_SEQ, LlamaContext
from .vocab import Vocab, as_token_array

if TYPE_CHECKING:
    from .model import Model

#: ``stop(probe, text)``: whether probe ``probe`` is finished after generating ``text`` (decoded so far).
StopRule = Callable[[int, str], bool]
#: ``on_first(probe, logits)``: sees the float32[V] logits of each probe's first generated token
#: (a read-only view, valid during the call only).
FirstRowHook = Callable[[int, np.ndarray], None]


@dataclass
class Branch:
    """One generated continuation: its token ids, text and why it stopped ('stop', 'eos', 'length')."""

    cut: int
    token_ids: list[int] = field(default_factory=list)
    text: str = ""
    stop_reason: str = "length"


@dataclass
class BranchStats:
    """What one :func:`generate_branches` call did: tokens prefilled and generated, decodes, seconds."""

    n_prefill: int = 0
    n_generated: int = 0
    n_decodes: int = 0
    seconds_prefill: float = 0.0
    seconds_generate: float = 0.0


def _check(model: Model, streams: list[np.ndarray], cuts: Sequence[Sequence[int]], max_tokens: int,
           ) -> list[list[int]]:
    if model.vocab_only:
        raise InputError(f"{model.name}: loaded with vocab_only=True; load it without vocab_only to generate")
    if max_tokens < 1:
        raise InputError(f"max_tokens must be >= 1, got {max_tokens}")
    if len(cuts) != len(streams):
        raise InputError(f"{len(streams)} streams but {len(cuts)} lists of cuts")
    out = []
    for arr, cs in zip(streams, cuts, strict=True):
        cl = [int(c) for c in cs]
        for c in cl:
            if not 1 <= c <= arr.size:
                raise InputError(f"a branch cut must lie in [1, {arr.size}] (its stream's length), got {c}")
        if cl != sorted(cl):
            raise InputError("branch cuts must be sorted in ascending order")
        out.append(cl)
    return out


def generate_branches(model: Model, streams: Sequence[Sequence[int] | np.ndarray], cuts: Sequence[Sequence[int]], *,
                      max_tokens: int, stop: StopRule | None = None, on_first: FirstRowHook | None = None,
                      max_seq: int = 32, max_cells: int = 1024, stats: BranchStats | None = None,
                      progress: Callable[[int], None] | None = None) -> list[list[Branch]]:
    """Greedy continuations of ``streams[j][:cut]`` for every ``cut`` in ``cuts[j]`` (ascending).

    Each stream is prefilled once, in a sequence of its own, up to its last cut; several streams
    share a prefill batch, and the probes of all streams in a group are decoded together, ``max_seq``
    at a time. A group holds streams of at most ``max_cells`` prefix tokens in all (the context
    grows to that plus ``max_seq * max_tokens``). The KV cache is unified, so every row of a decode
    attends over all used cells of the group (masked): a larger group buys wider parallel decoding
    with more attention work; 1024 measured best for 288 line probes on gemma3-270m (34 s vs 36 s at
    512 and 40 s at 3072, 2 shared cores). ``stop(probe, text)`` and ``on_first(probe, logits)``
    get the probe's index in the flattened order (stream by stream, cut by cut). ``stats``
    (optional) is filled with the counts and times of the prefill and of the generation;
    ``progress(n)`` is called after each group with the number of its probes, now finished.
    """
    arrs = [as_token_array(x, model.n_vocab) for x in streams]
    cut_lists = _check(model, arrs, cuts, max_tokens)
    flat = [Branch(cut=c) for cl in cut_lists for c in cl]
    st = stats if stats is not None else BranchStats()
    width = max(1, min(int(max_seq), len(flat), MAX_SEQ // 2))
    offsets = np.cumsum([0] + [len(cl) for cl in cut_lists]).tolist()
    groups = _groups([cl[-1] if cl else 0 for cl in cut_lists], MAX_SEQ - width, max_cells)
    for group in groups:
        cells = sum(cut_lists[j][-1] for j in group)
        ctx = model.ensure_context(cells + width * max_tokens + 1, max(model.n_batch, MAX_SEQ))  # n_seq_max = MAX_SEQ
        if ctx.n_seq_max < len(group) + width:  # pragma: no cover - the context is made with MAX_SEQ
            raise InputError(f"{model.name}: the context holds {ctx.n_seq_max} sequences, {len(group) + width} needed")
        ctx.claim()
        ctx.reset_seq_ids()
        ctx.clear_memory()
        try:
            t0 = time.perf_counter()
            probes = [(s, offsets[j] + i) for s, j in enumerate(group) for i in range(len(cut_lists[j]))]
            first = _prefill(ctx, [arrs[j][:cut_lists[j][-1]] for j in group], [cut_lists[j] for j in group],
                             model.n_vocab, on_first, [offsets[j] for j in group], st)
            t1 = time.perf_counter()
            _generate(ctx, model.vocab, flat, probes, first, len(group), width, max_tokens, stop, st)
            st.seconds_prefill += t1 - t0
            st.seconds_generate += time.perf_counter() - t1
        finally:
            ctx.reset_seq_ids()
            ctx.clear_memory()
            ctx.claim()
        if progress is not None:
            progress(len(probes))
    return [flat[offsets[j]:offsets[j + 1]] for j in range(len(cut_lists))]


def _groups(lengths: list[int], max_streams: int, max_cells: int) -> list[list[int]]:
    """Consecutive streams (with probes) in groups of at most ``max_streams`` and ``max_cells`` tokens (a
    longer stream alone)."""
    out: list[list[int]] = []
    cur: list[int] = []
    used = 0
    for j, n in enumerate(lengths):
        if n == 0:
            continue
        if cur and (len(cur) >= max_streams or used + n > max_cells):
            out.append(cur)
            cur, used = [], 0
        cur.append(j)
        used += n
    if cur:
        out.append(cur)
    return out


def _prefill(ctx: LlamaContext, prefixes: list[np.ndarray], cuts: list[list[int]], n_vocab: int,
             on_first: FirstRowHook | None, offsets: list[int], st: BranchStats) -> dict[int, int]:
    """Decode each prefix in its own sequence (0, 1, ...), packed into batches, outputting the rows
    ``cut - 1``: the first token of each probe, by flattened probe index."""
    tok, pos, flags = ctx.tok, ctx.pos, ctx.flags
    cap = ctx.cap
    # (sequence, position, token, probe index or -1) of every token, in order
    plan: list[tuple[int, int, int, list[int]]] = []
    for s, (ids, cl) in enumerate(zip(prefixes, cuts, strict=True)):
        want: dict[int, list[int]] = {}
        for i, c in enumerate(cl):
            want.setdefault(c - 1, []).append(offsets[s] + i)
        plan += [(s, p, int(t), want.get(p, [])) for p, t in enumerate(ids.tolist())]
    firsts: dict[int, int] = {}
    for k in range(0, len(plan), cap):
        part = plan[k:k + cap]
        nb = len(part)
        outs: list[list[int]] = []
        for j, (s, p, t, probes) in enumerate(part):
            tok[j], pos[j] = t, p
            flags[j] = 1 if probes else 0
            ctx.set_seq_ids(j, j + 1, s)
            if probes:
                outs.append(probes)
        ctx.decode(nb)
        st.n_prefill += nb
        st.n_decodes += 1
        if not outs:
            continue
        view = ctx.logits_view(len(outs), n_vocab)
        for r, probes in enumerate(outs):
            t0 = int(np.argmax(view[r]))
            for i in probes:
                firsts[i] = t0
                if on_first is not None:
                    on_first(i, view[r])
    return firsts


@dataclass
class _Live:
    probe: int
    seq: int
    pos: int  # position of the next token to decode
    out: bytearray = field(default_factory=bytearray)


def _generate(ctx: LlamaContext, vocab: Vocab, branches: list[Branch], probes: list[tuple[int, int]],
              first: dict[int, int], n_prefix: int, width: int, max_tokens: int, stop: StopRule | None,
              st: BranchStats) -> None:
    """Decode ``probes`` ((prefix sequence, probe index)) as parallel sequences ``n_prefix ..
    n_prefix + width - 1``, refilling a slot as soon as its probe ends."""
    lib = ctx.lib
    mem = lib.llama_get_memory(ctx.ptr)
    waiting = probes[::-1]
    free_seqs = list(range(n_prefix + width - 1, n_prefix - 1, -1))
    live: list[_Live] = []

    def admit(src: int, probe: int, seq: int) -> None:
        b = branches[probe]
        lib.llama_memory_seq_cp(mem, src, seq, 0, b.cut)
        lv = _Live(probe, seq, b.cut)
        if _accept(vocab, b, lv, first[probe], max_tokens, stop):
            live.append(lv)
        else:
            _release(lib, mem, lv, free_seqs)

    while waiting or live:
        while waiting and free_seqs:
            src, probe = waiting.pop()
            admit(src, probe, free_seqs.pop())
        if not live:
            continue
        for j, lv in enumerate(live):
            ctx.tok[j] = branches[lv.probe].token_ids[-1]
            ctx.pos[j] = lv.pos
            ctx.flags[j] = 1
            ctx.set_seq_ids(j, j + 1, lv.seq)
        n = len(live)
        ctx.decode(n)
        st.n_decodes += 1
        view = ctx.logits_view(n, vocab.n_vocab)
        nxt = np.argmax(view, axis=1)
        keep: list[_Live] = []
        for j, lv in enumerate(live):
            lv.pos += 1
            if _accept(vocab, branches[lv.probe], lv, int(nxt[j]), max_tokens, stop):
                keep.append(lv)
            else:
                _release(lib, mem, lv, free_seqs)
        live = keep
    st.n_generated += sum(len(branches[i].token_ids) for _, i in probes)


def _accept(vocab: Vocab, b: Branch, lv: _Live, t: int, max_tokens: int, stop: StopRule | None) -> bool:
    """Record token ``t`` of probe ``b``; whether the probe goes on (needs another decode)."""
    if vocab.is_eog(t):
        b.stop_reason = "eos"
        b.text = lv.out.decode("utf-8", "replace")
        return False
    b.token_ids.append(t)
    lv.out += vocab.token_to_piece(t, special=False)
    b.text = lv.out.decode("utf-8", "replace")
    if stop is not None and stop(lv.probe, b.text):
        b.stop_reason = "stop"
        return False
    if len(b.token_ids) >= max_tokens:
        b.stop_reason = "length"
        return False
    return True


def _release(lib: Any, mem: Any, lv: _Live, free_seqs: list[int]) -> None:
    lib.llama_memory_seq_rm(mem, lv.seq, -1, -1)
    free_seqs.append(lv.seq)
