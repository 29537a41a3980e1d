"""The passes of a comparison: each decodes one or more models over the planned windows once.

- :func:`pass_lockstep`: the reference and every variant decoded together, compared in place.
- :func:`pass_reference_cache`: the reference alone, its float16 log-probs or top-K stored.
- :func:`pass_variant_cached`: one variant against a stored reference (exact or top-K rows).
- :func:`pass_variant_base_file`: one variant against a llama.cpp ``--kl-divergence-base`` file.
- :func:`pass_nll`: one model alone: log-prob of the correct token, entropy, argmax.
- :func:`self_floor`: the reference against itself on its first window (KL must be 0).

Every pass resumes at its store's first unfinished window and writes each finished window
atomically, so an interrupted pass loses at most one window of work.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import core
from ..errors import InputError
from ..models import Window
from .batches import Batch, ProgressCounter, WindowAccumulator, iter_batches
from .bounds import coarse_reverse_js, f16_kl_error_bound, float16_logprobs, overlap, tail_mass, tail_upper_bound
from .llamacpp_file import BaseFile, base_fields
from .settings import TOP_N, Settings
from .store import ChunkStore
from .stream import TokenStream


def divergence_fields(d: Any, positions: np.ndarray) -> dict[str, np.ndarray]:
    """The per-token arrays of a core divergence result (KL exact: its interval is the point)."""
    kl = np.asarray(d.kl, dtype=np.float64)
    return {
        "positions": positions,
        "kl": kl,
        "kl_reverse": np.asarray(d.kl_reverse, dtype=np.float64),
        "js": np.asarray(d.js, dtype=np.float64),
        "entropy_ref": np.asarray(d.entropy_ref, dtype=np.float64),
        "entropy_var": np.asarray(d.entropy_var, dtype=np.float64),
        "logp_ref": np.asarray(d.target_logprob_ref, dtype=np.float64),
        "logp_var": np.asarray(d.target_logprob_var, dtype=np.float64),
        "argmax_ref": np.asarray(d.argmax_ref, dtype=np.int32),
        "argmax_var": np.asarray(d.argmax_var, dtype=np.int32),
        "top5_overlap": np.asarray(d.top5_overlap, dtype=np.float64),
        "top10_overlap": np.asarray(d.top10_overlap, dtype=np.float64),
        "kl_lower": kl,
        "kl_upper": kl,
    }


def top_fields(logits: np.ndarray, side: str) -> dict[str, np.ndarray]:
    """``top5_<side>_ids`` and ``top5_<side>_lp``: the model's TOP_N next tokens and their log-probs."""
    ids, lps = core.topk(logits, TOP_N)
    return {f"top5_{side}_ids": np.asarray(ids, dtype=np.int32), f"top5_{side}_lp": np.asarray(lps, dtype=np.float32)}


def pass_lockstep(ref: Any, variants: list[Any], stores: list[ChunkStore], stream: TokenStream,
                  plan: list[Window], settings: Settings, prog: ProgressCounter) -> None:
    """Decode the reference and every variant batch by batch; compare each batch in place."""
    n_w = len(plan)
    firsts = [s.first_missing(n_w) for s in stores]
    w0 = min(firsts)
    if w0 >= n_w:
        return
    iters = [iter_batches(m, stream.ids, plan, w0, settings, stream.file_starts) for m in [ref, *variants]]
    accs = [WindowAccumulator(plan) for _ in variants]
    for batches in zip(*iters, strict=False):  # every model yields the same batches
        rb = batches[0]
        for vb in batches[1:]:
            if vb.window != rb.window or not np.array_equal(vb.positions, rb.positions):
                raise RuntimeError("internal error: reference and variant batches differ")
        complete = False
        ref_top = top_fields(rb.logits, "ref")
        for acc, vb in zip(accs, batches[1:], strict=True):
            d = core.divergence(rb.logits, vb.logits, rb.targets)
            complete = acc.add(rb.window, {**divergence_fields(d, rb.positions), **ref_top,
                                           **top_fields(vb.logits, "var")})
        if complete:
            w = rb.window
            for acc, store, first in zip(accs, stores, firsts, strict=True):
                _, arrays = acc.take()
                if w >= first:
                    store.write_window(w, arrays)
            prog.advance(plan[w].n_scored)


def reference_fields(b: Batch, kind: str, k: int) -> dict[str, np.ndarray]:
    """What the reference cache stores of one batch: exact per-token values plus the full
    float16 log-probs (``kind='exact'``) or the top-``k`` ids, log-probs and tail mass."""
    rs = core.row_stats(b.logits, b.targets)
    arrays = {
        "positions": b.positions,
        "targets": np.asarray(b.targets, dtype=np.int32),
        "logp_ref": np.asarray(rs.target_logprob, dtype=np.float64),
        "entropy_ref": np.asarray(rs.entropy, dtype=np.float64),
        "argmax_ref": np.asarray(rs.argmax, dtype=np.int32),
        **top_fields(b.logits, "ref"),
    }
    if kind == "exact":
        arrays["logprobs16"] = float16_logprobs(b.logits, rs.logsumexp)
    else:
        ids, lps = core.topk(b.logits, k)
        arrays["topk_ids"] = np.asarray(ids, dtype=np.int32)
        arrays["topk_logprobs"] = np.asarray(lps, dtype=np.float32)
        arrays["tail_ref"] = tail_mass(lps)
    return arrays


def pass_reference_cache(ref: Any, store: ChunkStore, stream: TokenStream, plan: list[Window],
                         settings: Settings, prog: ProgressCounter) -> None:
    """Decode the reference alone and store one part per batch (variants read them back by part)."""
    kind = store.manifest["kind"]
    k = int(store.manifest.get("topk") or 0)
    w0 = store.first_missing(len(plan))
    part, rows, cur = 0, 0, None
    for b in iter_batches(ref, stream.ids, plan, w0, settings, stream.file_starts):
        if cur is not None and b.window != cur:
            raise RuntimeError(f"internal error: window {cur} ended after {rows} rows")
        cur = b.window
        store.write_part(b.window, part, reference_fields(b, kind, k))
        part += 1
        rows += len(b.positions)
        if rows >= plan[b.window].n_scored:
            store.mark_done(b.window, part)
            prog.advance(plan[b.window].n_scored)
            part, rows, cur = 0, 0, None


def exact_cache_fields(ref: dict[str, np.ndarray], b: Batch) -> dict[str, np.ndarray]:
    """A variant's batch against the reference's float16 log-probs, KL with its rounding bound."""
    d = core.divergence_from_logprobs16(ref["logprobs16"], b.logits, b.targets)
    f = divergence_fields(d, b.positions)
    rs = core.row_stats(b.logits)
    err = f16_kl_error_bound(ref["logprobs16"], b.logits, np.asarray(rs.logsumexp, dtype=np.float64))
    f["kl_lower"] = np.maximum(f["kl"] - err, 0.0)
    f["kl_upper"] = f["kl"] + err
    return f


def topk_cache_fields(ref: dict[str, np.ndarray], b: Batch) -> dict[str, np.ndarray]:
    """A variant's batch against the reference's top-K: coarse-grained divergences and KL bounds."""
    tt = core.topk_tail_divergence(ref["topk_ids"], ref["topk_logprobs"], b.logits, b.targets)
    var_ids, _ = core.topk(b.logits, 10)
    var_ids = np.asarray(var_ids)
    ref_ids = ref["topk_ids"]
    rows = np.arange(len(b.positions))[:, None]
    var_k = b.logits[rows, ref_ids]  # the variant's logits at the reference's top-K ids [R, K]
    tail_var = np.asarray(tt.tail_mass_var, dtype=np.float64)
    rev, js = coarse_reverse_js(ref["topk_logprobs"], ref["tail_ref"], var_k, tail_var)
    rs = core.row_stats(b.logits)
    upper = tail_upper_bound(ref["topk_logprobs"], ref["tail_ref"], ref["entropy_ref"], var_k,
                             np.asarray(rs.logsumexp, dtype=np.float64), b.logits.min(axis=1))
    lower = np.asarray(tt.kl_lower, dtype=np.float64)
    upper = np.maximum(np.minimum(np.asarray(tt.kl_upper, dtype=np.float64), upper), lower)
    return {
        "positions": b.positions,
        "kl": lower,
        "kl_reverse": rev,
        "js": js,
        "entropy_var": np.asarray(tt.entropy_var, dtype=np.float64),
        "logp_var": np.asarray(tt.target_logprob_var, dtype=np.float64),
        "argmax_var": np.asarray(tt.argmax_var, dtype=np.int32),
        "top5_overlap": overlap(ref_ids[:, :5], var_ids[:, :5]),
        "top10_overlap": overlap(ref_ids[:, :10], var_ids[:, :10]),
        "kl_lower": lower,
        "kl_upper": upper,
    }


def pass_variant_cached(var: Any, ref_store: ChunkStore, store: ChunkStore, stream: TokenStream,
                        plan: list[Window], settings: Settings, prog: ProgressCounter) -> None:
    """Decode one variant and compare each batch with the stored reference part of the same rows."""
    fields = exact_cache_fields if ref_store.manifest["kind"] == "exact" else topk_cache_fields
    w0 = store.first_missing(len(plan))
    acc = WindowAccumulator(plan)
    part = 0
    for b in iter_batches(var, stream.ids, plan, w0, settings, stream.file_starts):
        ref = ref_store.read_part(b.window, part)
        if not np.array_equal(ref["positions"], b.positions):
            raise InputError(
                f"the reference cache {ref_store.path} was made with other batch settings; remove it or "
                f"use the same --batch"
            )
        f = fields(ref, b)
        # the reference side is exact in both cached modes
        for k in ("logp_ref", "entropy_ref", "argmax_ref", "top5_ref_ids", "top5_ref_lp"):
            f[k] = ref[k]
        f.update(top_fields(b.logits, "var"))
        part += 1
        if acc.add(b.window, f):
            w, arrays = acc.take()
            store.write_window(w, arrays)
            prog.advance(plan[w].n_scored)
            part = 0


def pass_variant_base_file(var: Any, base: BaseFile, store: ChunkStore, stream: TokenStream, plan: list[Window],
                           settings: Settings, prog: ProgressCounter) -> None:
    """Decode one variant and compare each batch with llama.cpp's stored reference rows of its chunk."""
    w0 = store.first_missing(len(plan))
    acc = WindowAccumulator(plan)
    for b in iter_batches(var, stream.ids, plan, w0, settings, stream.file_starts):
        local = b.positions - plan[b.window].start
        f = {"positions": b.positions, **base_fields(base, b.window, local, b.logits, b.targets)}
        if acc.add(b.window, f):
            w, arrays = acc.take()
            store.write_window(w, arrays)
            prog.advance(plan[w].n_scored)


def pass_nll(model: Any, store: ChunkStore, stream: TokenStream, plan: list[Window], settings: Settings,
             prog: ProgressCounter) -> None:
    """One model alone: log-prob of the correct token, entropy, argmax per scored token."""
    w0 = store.first_missing(len(plan))
    acc = WindowAccumulator(plan)
    for b in iter_batches(model, stream.ids, plan, w0, settings, stream.file_starts):
        rs = core.row_stats(b.logits, b.targets)
        f = {
            "positions": b.positions,
            "logp": np.asarray(rs.target_logprob, dtype=np.float64),
            "entropy": np.asarray(rs.entropy, dtype=np.float64),
            "argmax": np.asarray(rs.argmax, dtype=np.int32),
        }
        if acc.add(b.window, f):
            w, arrays = acc.take()
            store.write_window(w, arrays)
            prog.advance(plan[w].n_scored)


def _first_batch(model: Any, ids: np.ndarray, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    gen = model.evaluate(ids, **kwargs)
    try:
        return next(gen), gen
    except StopIteration:
        return None, gen


def self_floor(model: Any, ids: np.ndarray, settings: Settings) -> dict[str, Any]:
    """Decode the first window twice with the same batch and compare: KL must be exactly 0. In mode
    cache-exact also the codec floor: the first decode against its own float16 log-probs."""
    m = min(len(ids), settings.n_ctx)
    sub = np.ascontiguousarray(ids[:m])
    scheme = "llama" if m == settings.n_ctx else "sliding"
    kwargs: dict[str, Any] = dict(n_ctx=settings.n_ctx, batch=settings.n_batch, scheme=scheme)
    if scheme == "sliding":
        kwargs["stride"] = max(1, settings.n_ctx // 2)
    a, gen_a = _first_batch(model, sub, kwargs)
    if a is None:
        return {"self_kl_max": float("nan"), "self_tokens": 0, "self_bitwise_identical": False}
    first = np.array(a.logits, dtype=np.float32, copy=True)
    targets = np.array(a.targets, copy=True)
    gen_a.close()
    b, gen_b = _first_batch(model, sub, kwargs)
    d = core.divergence(first, b.logits, targets)
    identical = bool(np.array_equal(first, b.logits))
    gen_b.close()
    kl = np.asarray(d.kl, dtype=np.float64)
    out: dict[str, Any] = {
        "self_kl_max": float(np.max(np.abs(kl))) if kl.size else float("nan"),
        "self_tokens": int(kl.size),
        "self_bitwise_identical": identical,
    }
    if settings.mode == "cache-exact":
        out.update(codec_floor(first, targets))
    return out


def codec_floor(logits: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """The reference against its own float16 log-probs (the cache-exact path): the codec's KL floor."""
    rs = core.row_stats(logits)
    d = core.divergence_from_logprobs16(float16_logprobs(logits, rs.logsumexp), logits, targets)
    kl = np.asarray(d.kl, dtype=np.float64)
    if not kl.size:
        return {"codec_floor_kl_max": float("nan"), "codec_floor_kl_mean": float("nan")}
    return {"codec_floor_kl_max": float(np.max(np.abs(kl))), "codec_floor_kl_mean": float(np.mean(kl))}
