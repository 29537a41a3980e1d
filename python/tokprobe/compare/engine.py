"""The comparison runner: lock-step and cached-reference modes, resumable.

One trip of data (ARCHITECTURE.md): corpus files -> REF's tokenizer -> token stream with
per-token class and language -> windows -> the same batch decoded by REF and by each
variant -> logits views ``[rows, vocab]`` (no copies) -> ``tokprobe.core`` divergence
kernels -> per-token arrays, written per window as chunk files -> statistics.

Nothing here holds more than one batch of logits per model.

Modes
-----
``lockstep``
    The reference and every variant are loaded together; each batch is decoded by all of
    them and compared in place. Memory O(models x batch x vocab).
``cache-exact``
    The reference runs once and stores its float16 log-probs over the full vocabulary for
    the scored rows (2 bytes x vocab per token, as llama.cpp's ``--kl-divergence-base``),
    plus its exact per-token values (log-prob of the correct token, entropy, argmax). Each
    variant is then compared against the cache without loading the reference. The only
    error is float16 rounding of the reference log-probs (relative 2^-11); its effect on
    every token's KL is bounded (:func:`f16_kl_error_bound`) and reported as
    ``[kl_lower, kl_upper]``. PPL, Δp, same top-1 and the reference entropy are exact.
``cache-topk``
    The reference stores only its top-K ids and log-probs and the tail mass per token
    (8 x K + 32 bytes per token). KL is reported as the KL of the coarse-grained
    distributions (top-K tokens + one tail bucket), a lower bound of the true KL; the upper
    end of the stated interval ``[kl_lower = kl, kl_upper]`` is the smaller of the core's
    tail bound and :func:`_tail_upper_bound` (which uses the reference's exact entropy).
    Reverse KL and JS are likewise coarse-grained lower bounds. PPL, Δp, same top-1 and the
    entropies are exact.

A reference cache is keyed by the reference's sha256, the token stream's sha256 (which
covers the corpus and the tokenizer), the scheme settings and the llama.cpp version, and is
reused by any later comparison with the same key. Chunk files are written atomically and
a run interrupted at any point (Ctrl-C included) resumes at the first unfinished window.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .. import io
from .._version import __version__
from ..errors import InputError, VocabMismatchError
from ..provenance import Provenance, llama_cpp_version
from .store import ChunkStore
from .stream import TokenStream, build_stream
from .windows import Window, check_scheme, plan_windows

MODES = ("lockstep", "cache-exact", "cache-topk")
DEFAULT_N_CTX = 512
DEFAULT_TOPK = 64
DEFAULT_BATCH = 512

Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------------------------
# settings and keys


@dataclass(frozen=True)
class Settings:
    n_ctx: int = DEFAULT_N_CTX
    scheme: str = "llama"
    stride: int | None = None
    mode: str = "lockstep"
    topk: int = DEFAULT_TOPK
    batch: int = DEFAULT_BATCH
    max_tokens: int | None = None
    language: str | None = None
    threads: int | None = None
    seed: int = 0

    def eval_key(self) -> dict[str, Any]:
        """What determines the decoded logits (besides the model and the tokens)."""
        return {
            "n_ctx": self.n_ctx,
            "scheme": self.scheme,
            "stride": self.stride,
            "batch": self.batch,
            "llama_cpp_python": llama_cpp_version(),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_ctx": self.n_ctx,
            "scheme": self.scheme,
            "stride": self.stride,
            "mode": self.mode,
            "topk": self.topk if self.mode == "cache-topk" else None,
            "batch": self.batch,
            "max_tokens": self.max_tokens,
            "language": self.language,
            "threads": self.threads,
            "seed": self.seed,
        }


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def default_cache_root() -> Path:
    from ..models import default_cache_dir

    return Path(default_cache_dir())


# --------------------------------------------------------------------------------------------
# models


@dataclass
class _Entry:
    """A model named on the command line: its spec, its vocab-only handle and, when loaded, the model."""

    spec: Any
    label: str
    handle: Any  # vocab-only model (or the user's loaded model)
    owned: bool  # whether we opened ``handle`` and must close it
    model: Any = None
    model_owned: bool = False
    same_vocab: bool = True

    @property
    def sha256(self) -> str:
        return str(self.handle.sha256)

    @property
    def vocab(self):
        return self.handle.vocab

    def info(self) -> dict[str, Any]:
        h = self.handle
        d: dict[str, Any] = {"name": self.label, "path": str(getattr(h, "path", "")), "sha256": self.sha256}
        info = getattr(h, "info", None)
        if info is not None and hasattr(info, "to_dict"):
            try:
                d.update({k: v for k, v in info.to_dict().items() if k not in d})
            except Exception:  # provenance must never break a run
                pass
        return d


def _is_model(obj: Any) -> bool:
    return hasattr(obj, "evaluate") and hasattr(obj, "vocab")


def _label(spec: Any) -> str:
    if _is_model(spec):
        return str(getattr(spec, "name", None) or Path(str(getattr(spec, "path", "model"))).stem)
    s = str(spec)
    p = Path(s).expanduser()
    if p.suffix.lower() == ".gguf" or os.sep in s:
        return p.stem
    return s


def _open_entry(spec: Any, threads: int | None, seed: int) -> _Entry:
    from .. import models

    if _is_model(spec):
        return _Entry(spec, _label(spec), spec, owned=False, model=spec, model_owned=False)
    handle = models.load(spec, vocab_only=True, threads=threads, seed=seed)
    return _Entry(spec, _label(spec), handle, owned=True)


def _load_full(entry: _Entry, settings: Settings) -> Any:
    from .. import models

    if entry.model is None:
        entry.model = models.load(
            entry.spec,
            threads=settings.threads,
            n_ctx=settings.n_ctx,
            n_batch=min(settings.batch, settings.n_ctx),
            seed=settings.seed,
        )
        entry.model_owned = True
    return entry.model


def _unload(entry: _Entry) -> None:
    if entry.model is not None and entry.model_owned:
        try:
            entry.model.close()
        finally:
            entry.model = None
            entry.model_owned = False


def _close(entry: _Entry) -> None:
    _unload(entry)
    if entry.owned and entry.handle is not None:
        try:
            entry.handle.close()
        except Exception:
            pass


def check_vocab(reference: Any, variant: Any, ref_label: str = "reference", var_label: str = "variant") -> None:
    """Raise :class:`VocabMismatchError` unless the two vocabularies have the same token texts."""
    rv, vv = reference.vocab if hasattr(reference, "vocab") else reference, variant.vocab if hasattr(variant, "vocab") else variant
    if rv.n_vocab == vv.n_vocab and rv.digest == vv.digest:
        return
    diff = rv.first_difference(vv)
    where = ""
    if diff is not None:
        i, mine, theirs = diff
        where = f"; first differing token {i}: {mine!r} in {ref_label}, {theirs!r} in {var_label}"
    raise VocabMismatchError(
        f"{var_label} does not share the vocabulary of {ref_label} "
        f"({rv.n_vocab} vs {vv.n_vocab} tokens{where}); use --allow-different-vocab for "
        f"tokenizer-independent metrics only"
    )


# --------------------------------------------------------------------------------------------
# batches


@dataclass
class _Batch:
    logits: np.ndarray
    positions: np.ndarray  # int64 stream positions (row predicts stream[pos + 1])
    targets: np.ndarray  # int32
    window: int


def _accepts(fn: Callable, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def iter_batches(model: Any, ids: np.ndarray, plan: list[Window], w0: int, settings: Settings) -> Iterator[_Batch]:
    """Batches of ``model.evaluate`` from window ``w0`` on, with stream positions and window indices.

    The llama scheme's windows are independent, so a resumed run decodes only ``ids[start:]``;
    a sliding run resumes through ``evaluate(start_window=...)`` when the models layer offers
    it, else by decoding and discarding the finished windows.
    """
    if w0 >= len(plan):
        return
    kwargs: dict[str, Any] = dict(n_ctx=settings.n_ctx, batch=min(settings.batch, settings.n_ctx), scheme=settings.scheme)
    if settings.scheme == "sliding":
        kwargs["stride"] = settings.stride
    offset, wshift, sub = 0, 0, ids
    if w0 > 0:
        if settings.scheme == "llama":
            offset, wshift = plan[w0].start, w0
            sub = ids[offset: plan[-1].end]
        elif _accepts(model.evaluate, "start_window"):
            kwargs["start_window"] = w0
    for eb in model.evaluate(sub, **kwargs):
        w = int(eb.window) + wshift
        if w < w0:
            continue
        yield _Batch(eb.logits, np.asarray(eb.positions, dtype=np.int64) + offset, np.asarray(eb.targets), w)


class _WindowAccumulator:
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


class _Progress:
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


# --------------------------------------------------------------------------------------------
# per-row computations


def _div_fields(d: Any, positions: np.ndarray) -> dict[str, np.ndarray]:
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


def _logprobs16(logits: np.ndarray, lse: np.ndarray, block: int = 32) -> np.ndarray:
    """float16 log-probs of the rows of ``logits`` (computed in row blocks to bound the temporaries)."""
    out = np.empty(logits.shape, dtype=np.float16)
    lse32 = np.asarray(lse, dtype=np.float32)
    for r in range(0, logits.shape[0], block):
        out[r: r + block] = logits[r: r + block] - lse32[r: r + block, None]
    return out


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    k = a.shape[1]
    return (a[:, :, None] == b[:, None, :]).any(axis=2).sum(axis=1) / float(k)


def _xlogy_ratio(x: np.ndarray, logx: np.ndarray, logy: np.ndarray) -> np.ndarray:
    """x * (log x - log y) with 0 log 0 = 0."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(x > 0, x * (logx - logy), 0.0)


def _coarse_reverse_js(ref_lp: np.ndarray, tail_ref: np.ndarray, var_logits_k: np.ndarray, tail_var: np.ndarray):
    """Reverse KL and JS of the coarse-grained (top-K + tail) distributions (lower bounds)."""
    lp = ref_lp.astype(np.float64)
    lk = var_logits_k.astype(np.float64)
    lk_max = lk.max(axis=1, keepdims=True)
    lse_k = lk_max + np.log(np.exp(lk - lk_max).sum(axis=1, keepdims=True))
    with np.errstate(divide="ignore"):
        log_in = np.log1p(-np.clip(tail_var, 0.0, 1.0))[:, None]
        lq = log_in + lk - lse_k  # log q_i at the reference's top-K ids
        ltp = np.log(np.clip(tail_ref, 0.0, 1.0))[:, None]
        ltq = np.log(np.clip(tail_var, 0.0, 1.0))[:, None]
    p = np.exp(lp)
    q = np.exp(lq)
    pt = np.clip(tail_ref, 0.0, 1.0)[:, None]
    qt = np.clip(tail_var, 0.0, 1.0)[:, None]
    P = np.concatenate([p, pt], axis=1)
    Q = np.concatenate([q, qt], axis=1)
    LP = np.concatenate([lp, ltp], axis=1)
    LQ = np.concatenate([lq, ltq], axis=1)
    rev = _xlogy_ratio(Q, LQ, LP).sum(axis=1)
    M = 0.5 * (P + Q)
    with np.errstate(divide="ignore"):
        LM = np.log(M)
    js = 0.5 * _xlogy_ratio(P, LP, LM).sum(axis=1) + 0.5 * _xlogy_ratio(Q, LQ, LM).sum(axis=1)
    return np.maximum(rev, 0.0), np.maximum(js, 0.0)


F16_REL_ERR = 2.0 ** -11  # float16 round-to-nearest relative error (11-bit significand)


def f16_kl_error_bound(logprobs16: np.ndarray, var_logits: np.ndarray, var_lse: np.ndarray,
                       block: int = 16) -> np.ndarray:
    """Per-row bound of |KL from float16 reference log-probs - KL from the exact ones|.

    Let s_i be the stored value of log p_i, with |s_i - log p_i| <= d_i = 2^-11 |s_i| / (1 - 2^-11)
    + 1e-6 (float16 rounding plus the float32 arithmetic that produced it). Whether or not the
    kernel renormalises exp(s), its log-probs differ from the exact ones by at most d_i + A, where
    A = max(|log sum exp(s_i + 2 d_i)|, |log sum exp(s_i - 2 d_i)|) bounds the normaliser. With
    p_i <= exp(s_i + d_i) and |log p_i - log q_i| <= |s_i - log q_i| + d_i:

        |dKL| <= sum_i e^(s_i + d_i) [ (e^(d_i + A) - 1) (|s_i - log q_i| + d_i) + e^(d_i + A) (d_i + A) ].

    This is a worst case (every rounding error in the unfavourable direction); the actual error is
    typically much smaller because rounding errors have both signs.
    """
    rows = logprobs16.shape[0]
    out = np.empty(rows, dtype=np.float64)
    lse = np.asarray(var_lse, dtype=np.float64)
    for r in range(0, rows, block):
        s = logprobs16[r: r + block].astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            finite = np.isfinite(s)
            s = np.where(finite, s, -np.inf)
            d = np.where(finite, F16_REL_ERR * np.abs(s) / (1.0 - F16_REL_ERR) + 1e-6, 0.0)
            a_hi = np.log(np.exp(s + 2 * d).sum(axis=1))
            a_lo = np.log(np.exp(s - 2 * d).sum(axis=1))
            A = np.maximum(np.abs(a_hi), np.abs(a_lo))[:, None]
            lq = var_logits[r: r + block].astype(np.float64) - lse[r: r + block, None]
            g = np.expm1(d + A)
            term = np.exp(s + d) * (g * (np.abs(s - lq) + d) + (g + 1.0) * (d + A))
            term = np.where(finite, term, 0.0)
        out[r: r + block] = term.sum(axis=1)
    return out


def _tail_upper_bound(ref_lp: np.ndarray, tail_ref: np.ndarray, entropy_ref: np.ndarray, var_logits_k: np.ndarray,
                      var_lse: np.ndarray, var_min_logit: np.ndarray) -> np.ndarray:
    """An upper bound of KL(P||Q) from P's top-K, P's exact entropy and Q's full row.

    KL = sum_K p (log p - log q) + sum_T p log p - sum_T p log q over the top-K set K and the
    tail T. The middle term is known exactly: h_T = -H(P) - sum_K p log p. The last is at most
    p_T * (-min_i log q_i). (The kernel's bound uses p_i <= p_K for h_T instead, which is
    looser by p_T log p_K - h_T; the smaller of the two bounds is kept.)
    """
    lp = np.asarray(ref_lp, dtype=np.float64)
    p = np.exp(lp)
    lq_k = np.asarray(var_logits_k, dtype=np.float64) - var_lse[:, None]
    head = (p * (lp - lq_k)).sum(axis=1)
    pt = np.clip(np.asarray(tail_ref, dtype=np.float64), 0.0, 1.0)
    h_t = -np.asarray(entropy_ref, dtype=np.float64) - (p * lp).sum(axis=1)
    h_t = np.minimum(h_t, pt * lp[:, -1])  # each tail p_i <= p_K
    h_t = np.minimum(h_t, 0.0)
    lq_min = np.asarray(var_min_logit, dtype=np.float64) - var_lse
    return head + h_t - pt * lq_min


def _tail_mass(topk_logprobs: np.ndarray) -> np.ndarray:
    """1 - sum of the top-K probabilities, computed without cancellation."""
    lp = np.asarray(topk_logprobs, dtype=np.float64)
    m = lp.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(lp - m).sum(axis=1, keepdims=True)))[:, 0]
    return np.clip(-np.expm1(np.minimum(lse, 0.0)), 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# passes


def _pass_lockstep(ref: Any, variants: list[Any], stores: list[ChunkStore], stream: TokenStream,
                   plan: list[Window], settings: Settings, prog: _Progress) -> None:
    from .. import core

    n_w = len(plan)
    firsts = [s.first_missing(n_w) for s in stores]
    w0 = min(firsts)
    if w0 >= n_w:
        return
    iters = [iter_batches(m, stream.ids, plan, w0, settings) for m in [ref, *variants]]
    accs = [_WindowAccumulator(plan) for _ in variants]
    for batches in zip(*iters):
        rb = batches[0]
        for vb in batches[1:]:
            if vb.window != rb.window or not np.array_equal(vb.positions, rb.positions):
                raise RuntimeError("internal error: reference and variant batches differ")
        complete = False
        for acc, vb in zip(accs, batches[1:]):
            d = core.divergence(rb.logits, vb.logits, rb.targets)
            complete = acc.add(rb.window, _div_fields(d, rb.positions))
        if complete:
            w = rb.window
            for acc, store, first in zip(accs, stores, firsts):
                _, arrays = acc.take()
                if w >= first:
                    store.write_window(w, arrays)
            prog.advance(plan[w].n_scored)


def _pass_reference_cache(ref: Any, store: ChunkStore, stream: TokenStream, plan: list[Window],
                          settings: Settings, prog: _Progress) -> None:
    from .. import core

    kind = store.manifest["kind"]
    k = int(store.manifest.get("topk") or 0)
    w0 = store.first_missing(len(plan))
    part, rows, cur = 0, 0, None
    for b in iter_batches(ref, stream.ids, plan, w0, settings):
        if cur is not None and b.window != cur:
            raise RuntimeError(f"internal error: window {cur} ended after {rows} rows")
        cur = b.window
        rs = core.row_stats(b.logits, b.targets)
        arrays = {
            "positions": b.positions,
            "targets": np.asarray(b.targets, dtype=np.int32),
            "logp_ref": np.asarray(rs.target_logprob, dtype=np.float64),
            "entropy_ref": np.asarray(rs.entropy, dtype=np.float64),
            "argmax_ref": np.asarray(rs.argmax, dtype=np.int32),
        }
        if kind == "exact":
            arrays["logprobs16"] = _logprobs16(b.logits, rs.logsumexp)
        else:
            ids, lps = core.topk(b.logits, k)
            arrays["topk_ids"] = np.asarray(ids, dtype=np.int32)
            arrays["topk_logprobs"] = np.asarray(lps, dtype=np.float32)
            arrays["tail_ref"] = _tail_mass(lps)
        store.write_part(b.window, part, arrays)
        part += 1
        rows += len(b.positions)
        if rows >= plan[b.window].n_scored:
            store.mark_done(b.window, part)
            prog.advance(plan[b.window].n_scored)
            part, rows, cur = 0, 0, None


def _pass_variant_cached(var: Any, ref_store: ChunkStore, store: ChunkStore, stream: TokenStream,
                         plan: list[Window], settings: Settings, prog: _Progress) -> None:
    from .. import core

    kind = ref_store.manifest["kind"]
    w0 = store.first_missing(len(plan))
    acc = _WindowAccumulator(plan)
    part = 0
    for b in iter_batches(var, stream.ids, plan, w0, settings):
        ref = ref_store.read_part(b.window, part)
        if not np.array_equal(ref["positions"], b.positions):
            raise InputError(
                f"the reference cache {ref_store.path} was made with other batch settings; remove it or "
                f"use the same --batch"
            )
        if kind == "exact":
            d = core.divergence_from_logprobs16(ref["logprobs16"], b.logits, b.targets)
            f = _div_fields(d, b.positions)
            rs = core.row_stats(b.logits)
            err = f16_kl_error_bound(ref["logprobs16"], b.logits, np.asarray(rs.logsumexp, dtype=np.float64))
            f["kl_lower"] = np.maximum(f["kl"] - err, 0.0)
            f["kl_upper"] = f["kl"] + err
        else:
            tt = core.topk_tail_divergence(ref["topk_ids"], ref["topk_logprobs"], b.logits, b.targets)
            var_ids, _ = core.topk(b.logits, 10)
            var_ids = np.asarray(var_ids)
            ref_ids = ref["topk_ids"]
            rows = np.arange(len(b.positions))[:, None]
            var_k = b.logits[rows, ref_ids]  # the variant's logits at the reference's top-K ids [R, K]
            tail_var = np.asarray(tt.tail_mass_var, dtype=np.float64)
            rev, js = _coarse_reverse_js(ref["topk_logprobs"], ref["tail_ref"], var_k, tail_var)
            rs = core.row_stats(b.logits)
            upper = _tail_upper_bound(ref["topk_logprobs"], ref["tail_ref"], ref["entropy_ref"], var_k,
                                      np.asarray(rs.logsumexp, dtype=np.float64), b.logits.min(axis=1))
            lower = np.asarray(tt.kl_lower, dtype=np.float64)
            upper = np.maximum(np.minimum(np.asarray(tt.kl_upper, dtype=np.float64), upper), lower)
            f = {
                "positions": b.positions,
                "kl": lower,
                "kl_reverse": rev,
                "js": js,
                "entropy_var": np.asarray(tt.entropy_var, dtype=np.float64),
                "logp_var": np.asarray(tt.target_logprob_var, dtype=np.float64),
                "argmax_var": np.asarray(tt.argmax_var, dtype=np.int32),
                "top5_overlap": _overlap(ref_ids[:, :5], var_ids[:, :5]),
                "top10_overlap": _overlap(ref_ids[:, :10], var_ids[:, :10]),
                "kl_lower": lower,
                "kl_upper": upper,
            }
        # the reference side is exact in both cached modes
        f["logp_ref"] = ref["logp_ref"]
        f["entropy_ref"] = ref["entropy_ref"]
        f["argmax_ref"] = ref["argmax_ref"]
        part += 1
        if acc.add(b.window, f):
            w, arrays = acc.take()
            store.write_window(w, arrays)
            prog.advance(plan[w].n_scored)
            part = 0


def _pass_nll(model: Any, store: ChunkStore, stream: TokenStream, plan: list[Window], settings: Settings,
              prog: _Progress) -> None:
    """One model alone: log-prob of the correct token, entropy, argmax per scored token."""
    from .. import core

    w0 = store.first_missing(len(plan))
    acc = _WindowAccumulator(plan)
    for b in iter_batches(model, stream.ids, plan, w0, settings):
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


def self_floor(model: Any, ids: np.ndarray, settings: Settings) -> dict[str, Any]:
    """Decode the first window twice with the same batch and compare: KL must be exactly 0."""
    from .. import core

    m = min(len(ids), settings.n_ctx)
    sub = np.ascontiguousarray(ids[:m])
    scheme = "llama" if m == settings.n_ctx else "sliding"
    kwargs: dict[str, Any] = dict(n_ctx=settings.n_ctx, batch=min(settings.batch, settings.n_ctx), scheme=scheme)
    if scheme == "sliding":
        kwargs["stride"] = max(1, settings.n_ctx // 2)

    def first_batch():
        gen = model.evaluate(sub, **kwargs)
        try:
            return next(gen), gen
        except StopIteration:
            return None, gen

    a, gen_a = first_batch()
    if a is None:
        return {"self_kl_max": float("nan"), "self_tokens": 0, "self_bitwise_identical": False}
    first = np.array(a.logits, dtype=np.float32, copy=True)
    targets = np.array(a.targets, copy=True)
    gen_a.close()
    b, gen_b = first_batch()
    d = core.divergence(first, b.logits, targets)
    identical = bool(np.array_equal(first, b.logits))
    gen_b.close()
    kl = np.asarray(d.kl, dtype=np.float64)
    return {
        "self_kl_max": float(np.max(np.abs(kl))) if kl.size else float("nan"),
        "self_tokens": int(kl.size),
        "self_bitwise_identical": identical,
    }


# --------------------------------------------------------------------------------------------
# the comparison


@dataclass
class RunState:
    settings: Settings
    reference: _Entry
    variants: list[_Entry]
    stream: TokenStream
    plan: list[Window]
    run_dir: Path
    corpus_digest: str
    ref_key: str
    floor: dict[str, Any] = field(default_factory=dict)
    reference_cache: dict[str, Any] = field(default_factory=dict)
    independent_streams: dict[str, tuple[TokenStream, list[Window]]] = field(default_factory=dict)


def _gather(store: ChunkStore, n_windows: int) -> dict[str, np.ndarray]:
    parts = [store.read_window(w) for w in range(n_windows)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _load_corpus(corpus: Any, language: str | None):
    from ..corpus import load_corpus

    if corpus is not None and hasattr(corpus, "files"):
        return corpus
    return load_corpus(corpus, language=language)


def _unique_labels(entries: list[_Entry]) -> None:
    seen: dict[str, int] = {}
    for e in entries:
        n = seen.get(e.label, 0)
        seen[e.label] = n + 1
        if n:
            e.label = f"{e.label}#{n + 1}"


def compare(
    reference: Any,
    variants: Any,
    corpus: Any = None,
    *,
    n_ctx: int = DEFAULT_N_CTX,
    scheme: str = "llama",
    stride: int | None = None,
    mode: str = "lockstep",
    topk: int = DEFAULT_TOPK,
    run_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    language: str | None = None,
    max_tokens: int | None = None,
    batch: int = DEFAULT_BATCH,
    allow_different_vocab: bool = False,
    floor: bool = True,
    resume: bool = True,
    seed: int = 0,
):
    """Compare ``variants`` against ``reference`` token by token on a code corpus.

    Parameters
    ----------
    reference, variants
        Model names (e.g. ``'gemma3-270m-F16'``), GGUF paths, or loaded ``tokprobe.models.Model``
        objects; ``variants`` may be a single one. Variants must share the reference's
        vocabulary (same token count and texts), unless ``allow_different_vocab``: then those
        variants get only tokenizer-independent metrics (bits per byte, per-class bits).
    corpus
        A file, a directory, a loaded ``tokprobe.corpus.Corpus``, or None for the shipped corpus.
    n_ctx
        Context length of each window (default 512, as llama.cpp's perplexity tool).
    scheme, stride
        ``'llama'`` (default: windows of n_ctx, BOS first, second half scored) or ``'sliding'``
        (windows every ``stride`` tokens, default n_ctx/2, every token scored once).
    mode
        ``'lockstep'``, ``'cache-exact'`` or ``'cache-topk'`` (with ``topk`` = K, default 64).
    run_dir
        Where the per-window state and the results go (default: a directory under the tokprobe
        cache named by the run's key, so running the same comparison again resumes it).
    cache_dir
        Where reference caches go (default ``<tokprobe cache>/reference``).
    threads, seed
        Passed to the model loader and the core kernels; recorded in the provenance.
    progress
        ``progress(done, total)`` in scored tokens over all passes, called after every window.
    language, max_tokens
        Restrict the corpus to one language / truncate the token stream.
    batch
        Decode batch size (``n_batch``), at most n_ctx.
    floor
        Decode the first window of the reference twice and report max |KL| (must be 0.0).
    resume
        Reuse finished windows of an earlier, interrupted run with the same key (default).

    Returns
    -------
    CompareResult
    """
    from .. import core
    from .result import CompareResult

    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    stride = check_scheme(scheme, n_ctx, stride)
    if mode == "cache-topk" and not 10 <= int(topk):
        raise InputError(f"--topk must be at least 10 (top-10 agreement needs it), got {topk}")
    if int(batch) < 1:
        raise InputError(f"batch must be positive, got {batch}")
    if max_tokens is not None and int(max_tokens) < 2:
        raise InputError(f"max_tokens must be at least 2, got {max_tokens}")
    if isinstance(variants, (str, os.PathLike)) or _is_model(variants):
        variants = [variants]
    variants = list(variants)
    if not variants:
        raise InputError("name at least one variant to compare with the reference")
    settings = Settings(
        n_ctx=int(n_ctx), scheme=scheme, stride=stride, mode=mode, topk=int(topk), batch=int(min(batch, n_ctx)),
        max_tokens=None if max_tokens is None else int(max_tokens), language=language, threads=threads,
        seed=int(seed),
    )
    if threads is not None:
        core.set_threads(int(threads))
    timings: dict[str, float] = {}
    timer = _timer_factory(timings)
    t_start = time.perf_counter()

    entries: list[_Entry] = []
    try:
        ref = _open_entry(reference, threads, settings.seed)
        entries.append(ref)
        var_entries: list[_Entry] = []
        for spec in variants:
            e = _open_entry(spec, threads, settings.seed)
            entries.append(e)
            var_entries.append(e)
        _unique_labels(entries)
        for e in var_entries:
            try:
                check_vocab(ref.handle, e.handle, ref.label, e.label)
            except VocabMismatchError:
                if not allow_different_vocab:
                    raise
                e.same_vocab = False

        t_prep = time.perf_counter()
        corpus_obj = _load_corpus(corpus, language)
        stream = build_stream(corpus_obj.files, ref.handle, ref.vocab, max_tokens=settings.max_tokens)
        plan = plan_windows(len(stream), settings.n_ctx, settings.scheme, settings.stride, ref.vocab.add_bos)
        corpus_digest = str(getattr(corpus_obj, "digest", ""))

        ref_key = _hash({"model": ref.sha256, "tokens": stream.digest, **settings.eval_key()})
        run_key = _hash({"ref": ref_key, "variants": [e.sha256 for e in var_entries], "mode": mode,
                         "topk": settings.topk if mode == "cache-topk" else None})
        rdir = Path(run_dir) if run_dir is not None else default_cache_root() / "compare" / run_key[:24]
        rdir.mkdir(parents=True, exist_ok=True)
        state = RunState(settings, ref, var_entries, stream, plan, rdir, corpus_digest, ref_key)
        timings["prepare_s"] = time.perf_counter() - t_prep

        shared = [e for e in var_entries if e.same_vocab]
        different = [e for e in var_entries if not e.same_vocab]
        cdir = Path(cache_dir) if cache_dir is not None else default_cache_root() / "reference"

        # -- stores and the work still to do ------------------------------------------------
        n_plan = sum(w.n_scored for w in plan)

        def var_store(e: _Entry) -> ChunkStore:
            key = _hash({"ref": ref_key, "variant": e.sha256, "mode": mode,
                         "topk": settings.topk if mode == "cache-topk" else None})
            return ChunkStore.open(rdir / "state" / key[:24], {
                "key": key, "kind": "comparison", "mode": mode, "reference": ref.sha256, "variant": e.sha256,
                "variant_label": e.label, "n_windows": len(plan), "settings": settings.to_dict(),
            }, resume=resume)

        def remaining(store: ChunkStore, p: list[Window]) -> int:
            done = store.done_windows()
            return sum(w.n_scored for w in p if w.index not in done)

        stores = {e.label: var_store(e) for e in shared}
        ref_store: ChunkStore | None = None
        if mode != "lockstep" and shared:
            kind = "exact" if mode == "cache-exact" else "topk"
            rkey = _hash({"ref": ref_key, "kind": kind, "topk": settings.topk if kind == "topk" else None})
            ref_store = ChunkStore.open(cdir / f"{rkey[:24]}-{kind}", {
                "key": rkey, "kind": kind, "topk": settings.topk if kind == "topk" else None,
                "reference": ref.info(), "tokens_digest": stream.digest, "corpus_digest": corpus_digest,
                "n_tokens": len(stream), "n_vocab": int(ref.vocab.n_vocab), "n_windows": len(plan),
                "n_scored": n_plan, "settings": {**settings.eval_key(), "mode": mode},
                "tokprobe_version": __version__,
            }, resume=True)  # a finished reference cache is always reusable

        # reference alone (its NLL) is needed when nothing else yields it
        ref_nll_store: ChunkStore | None = None
        if not shared:
            key = _hash({"ref": ref_key, "kind": "nll"})
            ref_nll_store = ChunkStore.open(rdir / "state" / key[:24], {"key": key, "kind": "nll",
                                                                       "model": ref.sha256}, resume=resume)

        diff_streams: dict[str, tuple[TokenStream, list[Window], ChunkStore]] = {}
        for e in different:
            s = build_stream(corpus_obj.files, e.handle, e.vocab, max_tokens=settings.max_tokens)
            p = plan_windows(len(s), settings.n_ctx, settings.scheme, settings.stride, e.vocab.add_bos)
            key = _hash({"model": e.sha256, "tokens": s.digest, **settings.eval_key(), "kind": "nll"})
            st = ChunkStore.open(rdir / "state" / key[:24], {"key": key, "kind": "nll", "model": e.sha256,
                                                             "label": e.label}, resume=resume)
            diff_streams[e.label] = (s, p, st)

        total, done = 0, 0
        if mode == "lockstep":
            if stores:
                total += n_plan
                done += n_plan - max(remaining(s, plan) for s in stores.values())
        else:
            if ref_store is not None:
                total += n_plan
                done += n_plan - remaining(ref_store, plan)
            for s in stores.values():
                total += n_plan
                done += n_plan - remaining(s, plan)
        if ref_nll_store is not None:
            total += n_plan
            done += n_plan - remaining(ref_nll_store, plan)
        for s, p, st in diff_streams.values():
            n = sum(w.n_scored for w in p)
            total += n
            done += n - remaining(st, p)
        prog = _Progress(progress, total, done)
        prog.start()

        # -- the floor: the reference against itself ----------------------------------------
        floor_path = rdir / "state" / f"floor-{ref_key[:24]}.json"
        if floor:
            if ref_store is not None and "floor" in ref_store.manifest:
                state.floor = dict(ref_store.manifest["floor"])
            elif floor_path.exists():
                state.floor = io.read_json(floor_path)

        def load(e: _Entry) -> Any:
            with timer("load_s"):
                return _load_full(e, settings)

        def ensure_floor() -> None:
            if floor and not state.floor:
                rm = load(ref)
                with timer("floor_s"):
                    state.floor = self_floor(rm, stream.ids, settings)
                io.write_json(floor_path, state.floor)
                if ref_store is not None:
                    ref_store.update_manifest(floor=state.floor)

        # -- passes ----------------------------------------------------------------------------
        if mode == "lockstep":
            ensure_floor()
            if stores and any(remaining(s, plan) for s in stores.values()):
                rm = load(ref)
                vms = [load(e) for e in shared]
                with timer("passes_s"):
                    _pass_lockstep(rm, vms, [stores[e.label] for e in shared], stream, plan, settings, prog)
                for e in shared:
                    _unload(e)
        elif ref_store is not None:
            if remaining(ref_store, plan):
                ensure_floor()
                rm = load(ref)
                with timer("passes_s"):
                    _pass_reference_cache(rm, ref_store, stream, plan, settings, prog)
            if not ref_store.manifest.get("complete"):
                ref_store.update_manifest(complete=True, bytes=ref_store.nbytes())
            ensure_floor()  # a reused cache made without the floor
            _unload(ref)
            for e in shared:
                st = stores[e.label]
                if remaining(st, plan):
                    vm = load(e)
                    with timer("passes_s"):
                        _pass_variant_cached(vm, ref_store, st, stream, plan, settings, prog)
                    _unload(e)
        if ref_nll_store is not None:
            ensure_floor()
            if remaining(ref_nll_store, plan):
                rm = load(ref)
                with timer("passes_s"):
                    _pass_nll(rm, ref_nll_store, stream, plan, settings, prog)
        _unload(ref)
        for e in different:
            s, p, st = diff_streams[e.label]
            if remaining(st, p):
                em = load(e)
                with timer("passes_s"):
                    _pass_nll(em, st, s, p, settings, prog)
                _unload(e)

        # -- gather ------------------------------------------------------------------------------
        per_variant: dict[str, dict[str, np.ndarray]] = {}
        for e in shared:
            per_variant[e.label] = _gather(stores[e.label], len(plan))
        if ref_nll_store is not None:
            ref_nll = _gather(ref_nll_store, len(plan))
        elif shared:
            first = per_variant[shared[0].label]
            ref_nll = {"positions": first["positions"], "logp": first["logp_ref"], "entropy": first["entropy_ref"],
                       "argmax": first["argmax_ref"]}
        else:  # pragma: no cover - every path above defines it
            ref_nll = {}
        independent: dict[str, dict[str, Any]] = {ref.label: {"stream": stream, "arrays": ref_nll, "entry": ref,
                                                               "role": "reference", "vocab": "reference"}}
        for e in shared:
            a = per_variant[e.label]
            independent[e.label] = {"stream": stream, "entry": e, "role": "variant", "vocab": "shared",
                                    "arrays": {"positions": a["positions"], "logp": a["logp_var"]}}
        for e in different:
            s, p, st = diff_streams[e.label]
            independent[e.label] = {"stream": s, "entry": e, "role": "variant", "vocab": "different",
                                    "arrays": _gather(st, len(p))}

        if ref_store is not None:
            state.reference_cache = {
                "path": str(ref_store.path),
                "kind": ref_store.manifest["kind"],
                "topk": ref_store.manifest.get("topk"),
                "bytes": int(ref_store.manifest.get("bytes") or ref_store.nbytes()),
                "n_scored": n_plan,
            }
            state.reference_cache["bytes_per_token"] = state.reference_cache["bytes"] / max(n_plan, 1)

        prov = Provenance(
            settings={**settings.to_dict(), "run_dir": str(rdir), "corpus_digest": corpus_digest,
                      "tokens_digest": stream.digest, "n_tokens": len(stream), "n_windows": len(plan),
                      "n_scored": n_plan, "reference_cache": state.reference_cache or None,
                      "self_floor": state.floor or None, "aligned_files": stream.n_aligned_files,
                      "corpus_files": len(stream.files), "different_vocab": [e.label for e in different],
                      "threads_effective": _threads_effective(ref, threads)},
            models={"reference": ref.info(), **{f"variant:{e.label}": e.info() for e in var_entries}},
        )
        timings["total_s"] = time.perf_counter() - t_start
        prov.settings["timings"] = timings
        result = CompareResult(
            reference=ref.label,
            variants=[e.label for e in shared],
            per_variant=per_variant,
            stream=stream,
            plan=plan,
            settings=settings,
            provenance=prov,
            token_bytes=list(ref.vocab.token_bytes),
            floor=state.floor,
            reference_cache=state.reference_cache,
            independent=independent,
            run_dir=rdir,
            var_sha256={e.label: e.sha256 for e in var_entries},
            ref_sha256=ref.sha256,
        )
        with timer("save_s"):
            result.save(rdir)
        return result
    finally:
        for e in entries:
            _close(e)


def _timer_factory(timings: dict[str, float]):
    from contextlib import contextmanager

    @contextmanager
    def timer(name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0

    return timer


def _threads_effective(ref: _Entry, threads: int | None) -> int | None:
    t = getattr(ref.handle, "threads", None)
    if t is None:
        return threads
    try:
        return int(t)
    except (TypeError, ValueError):
        return threads
