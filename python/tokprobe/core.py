"""Native statistics over logits matrices: the one place tokprobe calls ``tokprobe._core`` from.

Inputs
    Logits are C-contiguous float32 matrices ``[rows, vocab]``: numpy arrays or any buffer-protocol
    object (e.g. a zero-copy view of llama.cpp's logits buffer). They are never copied; the GIL is
    released while the kernels run and rows are spread over a persistent thread pool
    (:func:`set_threads`). Results are new numpy arrays (float64 values, int32 ids).

Edge cases (the same in every function)
    * ``-inf`` marks a masked token: its probability is exactly 0. A KL term where the first
      distribution is > 0 and the second is 0 makes that KL ``+inf``.
    * A row holding NaN or ``+inf`` anywhere is invalid: its float results are NaN and its argmax
      (or top-k ids) are -1. A row of only ``-inf`` is invalid the same way (no distribution).
    * A vocab of 1 is a point mass (entropy 0, divergences 0). Zero rows give empty results.
    * Bad arguments (wrong dtype such as float64, wrong ndim, non-contiguous arrays, mismatched
      shapes, ids out of range) raise :class:`tokprobe.errors.InputError` before any work is done.
    * Finite logits are assumed below 1e37 in magnitude (differences of two logits must be finite).

Accuracy
    Per-token terms are evaluated in float32 (the precision of the input) with formulas that do
    not cancel when two distributions are close; all long sums are accumulated in float64. Compared
    with a float64 evaluation (tests/test_core.py), results agree to ~1e-6 relative (log-sum-exp and
    log-probs to ~1e-7 absolute); KL(P||P) and JS(P,P) are exactly 0, and swapping P and Q swaps the
    two KLs bit for bit. Tiny values below float32 range (e.g. a KL of 1e-120) come out as 0.

Speed
    The kernels use the widest vector instructions the CPU has (:func:`simd_level`; AVX-512, AVX2,
    else SSE2/NEON) in a portable build. Each logits matrix is read twice (the second read mostly
    from cache); see benchmarks/bench_core.py for timings against numpy and a memory-read floor.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import Field, dataclass, fields
from typing import Any, ClassVar, TypeAlias

import numpy as np
import pandas as pd

from . import _core
from .errors import InputError

__all__ = [
    "set_threads",
    "get_threads",
    "simd_level",
    "RowStats",
    "row_stats",
    "Divergence",
    "divergence",
    "divergence_from_logprobs16",
    "TopKTail",
    "topk_tail_divergence",
    "class_mass",
    "topk",
    "TokenHistogram",
    "Summary",
]


# ------------------------------------------------------------------------------------------------
# argument checks (all user mistakes become InputError here, before _core is called)


def _array(obj: Any, name: str) -> np.ndarray:
    """A zero-copy numpy view of an array or buffer-protocol object."""
    if isinstance(obj, np.ndarray):
        return obj
    try:
        view = memoryview(obj)
    except TypeError:
        raise InputError(f"{name} must be a numpy array or buffer, got {type(obj).__name__}") from None
    try:
        return np.asarray(view)
    except (TypeError, ValueError) as e:
        raise InputError(f"{name}: unsupported buffer ({e})") from None


def _matrix(obj: Any, name: str, dtype: Any = np.float32) -> np.ndarray:
    arr = _array(obj, name)
    want = np.dtype(dtype)
    if arr.dtype != want:
        raise InputError(
            f"{name} must be {want.name}, got {arr.dtype} (convert with .astype(np.{want.name}))"
        )
    if arr.ndim != 2:
        raise InputError(f"{name} must be 2-D [rows, vocab], got shape {arr.shape}")
    if not arr.flags.c_contiguous:
        raise InputError(f"{name} must be C-contiguous (use np.ascontiguousarray)")
    if arr.shape[1] == 0:
        raise InputError(f"{name} has a vocab of 0 columns")
    return arr


def _int_array(obj: Any, name: str, ndim: int) -> np.ndarray:
    arr = np.asarray(obj)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{name} must be an integer array, got {arr.dtype}")
    if arr.ndim != ndim:
        raise InputError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return arr


def _check_range(arr: np.ndarray, name: str, lo: int, hi: int) -> None:
    """Every value in [lo, hi)."""
    if arr.size == 0:
        return
    mn, mx = int(arr.min()), int(arr.max())
    if mn < lo or mx >= hi:
        bad = mn if mn < lo else mx
        raise InputError(f"{name} holds {bad}, outside [{lo}, {hi})")


def _targets(targets: Any, rows: int, vocab: int) -> np.ndarray | None:
    if targets is None:
        return None
    t = _int_array(targets, "targets", 1)
    if t.shape[0] != rows:
        raise InputError(f"targets has {t.shape[0]} entries for {rows} rows")
    _check_range(t, "targets", 0, vocab)
    return np.ascontiguousarray(t, dtype=np.int32)


def _class_map(class_map: Any, vocab: int, n_classes: int) -> np.ndarray:
    cm = _int_array(class_map, "class_map", 1)
    if cm.shape[0] != vocab:
        raise InputError(f"class_map has {cm.shape[0]} entries for a vocab of {vocab}")
    _check_range(cm, "class_map", -1, n_classes)
    return np.ascontiguousarray(cm, dtype=np.int32)


def _count(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


# ------------------------------------------------------------------------------------------------
# threads


def set_threads(n: int | None = None) -> None:
    """Size of the kernels' thread pool (1 to 1024); ``None`` = the cores this process may use."""
    if n is not None and _count(n, "threads", 1) > 1024:
        raise InputError(f"threads must be at most 1024, got {n}")
    _core.set_threads(n)


def get_threads() -> int:
    """Current size of the kernels' thread pool."""
    return int(_core.get_threads())


def simd_level() -> str:
    """Vector instructions the kernels use on this CPU: ``'avx512'``, ``'avx2'`` or ``'base'``."""
    return str(_core.simd_level())


# ------------------------------------------------------------------------------------------------
# results


class _Frame:
    # Declared (not set) so that type checkers see every subclass as a dataclass.
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    def to_frame(self) -> pd.DataFrame:
        """A pandas DataFrame with one column per field, one row per logits row."""
        return pd.DataFrame({f.name: getattr(self, f.name) for f in fields(self)})

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))


@dataclass(frozen=True)
class RowStats(_Frame):
    """Per-row statistics; float64 arrays except ``argmax`` (int32, -1 for invalid rows)."""

    logsumexp: np.ndarray
    entropy: np.ndarray  # nats
    argmax: np.ndarray
    max_logprob: np.ndarray
    target_logprob: np.ndarray  # NaN where no targets were given


@dataclass(frozen=True)
class Divergence(_Frame):
    """Per-row comparison of a reference P and a variant Q (all in nats)."""

    kl: np.ndarray  # KL(P || Q)
    kl_reverse: np.ndarray  # KL(Q || P)
    js: np.ndarray  # Jensen-Shannon, in [0, ln 2]
    entropy_ref: np.ndarray
    entropy_var: np.ndarray
    target_logprob_ref: np.ndarray
    target_logprob_var: np.ndarray
    argmax_ref: np.ndarray
    argmax_var: np.ndarray
    top5_overlap: np.ndarray
    top10_overlap: np.ndarray


@dataclass(frozen=True)
class TopKTail(_Frame):
    """Divergence against a reference kept only as its top-K tokens per row."""

    kl_lower: np.ndarray
    kl_upper: np.ndarray
    tail_mass_ref: np.ndarray
    tail_mass_var: np.ndarray
    target_logprob_var: np.ndarray
    argmax_var: np.ndarray
    entropy_var: np.ndarray


# ------------------------------------------------------------------------------------------------
# kernels


def row_stats(logits: Any, targets: Any = None) -> RowStats:
    """Log-sum-exp, entropy (nats), argmax, max log-prob and the target token's log-prob per row.

    ``logits``: float32 ``[rows, vocab]``; ``targets``: optional integer ``[rows]`` in ``[0, vocab)``.
    Argmax ties go to the lowest id. Invalid rows (NaN/+inf anywhere, or all ``-inf``) give NaN
    and argmax -1; a ``-inf`` target gives a target log-prob of ``-inf``.
    """
    x = _matrix(logits, "logits")
    t = _targets(targets, x.shape[0], x.shape[1])
    return RowStats(**_core.row_stats(x, t))


def divergence(ref_logits: Any, var_logits: Any, targets: Any = None) -> Divergence:
    """KL both ways, Jensen-Shannon, both entropies, target log-probs, argmaxes, top-5/10 overlap.

    ``ref_logits`` (P) and ``var_logits`` (Q): float32 ``[rows, vocab]`` of the same shape.
    ``kl`` is KL(P||Q): ``+inf`` in a row where some token is masked (``-inf``) in Q but not in P;
    ``kl_reverse`` likewise the other way round. JS is symmetric and at most ln 2.
    ``topK_overlap`` = |top-K(P) ∩ top-K(Q)| / min(K, vocab); the top-K is ordered by logit, ties
    by lower id (masked tokens take part when fewer than K tokens are finite).
    A row invalid in either matrix gives NaN divergences and overlaps; each side's entropy, target
    log-prob and argmax are still reported when that side is valid.
    """
    p = _matrix(ref_logits, "ref_logits")
    q = _matrix(var_logits, "var_logits")
    if p.shape != q.shape:
        raise InputError(f"ref_logits has shape {p.shape} but var_logits has shape {q.shape}")
    t = _targets(targets, p.shape[0], p.shape[1])
    return Divergence(**_core.divergence(p, q, t))


def divergence_from_logprobs16(ref_logprobs_f16: Any, var_logits: Any, targets: Any = None) -> Divergence:
    """:func:`divergence` with the reference given as float16 log-probs (the exact cached mode).

    The float16 values are treated as the reference's logits (renormalised), so rounding to
    float16 cannot make the reference sum to other than 1; ``-inf`` stays a masked token.
    """
    p = _matrix(ref_logprobs_f16, "ref_logprobs_f16", np.float16)
    q = _matrix(var_logits, "var_logits")
    if p.shape != q.shape:
        raise InputError(f"ref_logprobs_f16 has shape {p.shape} but var_logits has shape {q.shape}")
    t = _targets(targets, p.shape[0], p.shape[1])
    return Divergence(**_core.divergence_from_logprobs16(p, q, t))


def topk_tail_divergence(ref_ids: Any, ref_logprobs: Any, var_logits: Any, targets: Any = None) -> TopKTail:
    """Bounds on KL(P||Q) when the reference P is stored only as its top-K ids and log-probs.

    ``ref_ids``: integer ``[rows, K]`` (distinct ids per row, the reference's K most probable tokens);
    ``ref_logprobs``: ``[rows, K]`` log-probs of those tokens under the full reference;
    ``var_logits``: float32 ``[rows, vocab]``.
    ``kl_lower`` is the KL between the coarse-grained distributions (the K tokens plus one tail
    bucket), <= the true KL (data-processing inequality). ``kl_upper`` >= the true KL: each tail
    token's term is bounded with p_i <= p_K (the smallest stored probability) and q_i >= the
    smallest tail probability under Q (``+inf`` if Q masks a tail token). ``tail_mass_ref`` =
    1 - sum of the stored probabilities (clipped at 0), ``tail_mass_var`` = Q's mass outside the K
    ids. NaN/+inf reference log-probs or an invalid variant row give NaN bounds.
    """
    q = _matrix(var_logits, "var_logits")
    rows, vocab = q.shape
    ids = _int_array(ref_ids, "ref_ids", 2)
    lps = np.asarray(ref_logprobs)
    if not np.issubdtype(lps.dtype, np.floating):
        raise InputError(f"ref_logprobs must be a float array, got {lps.dtype}")
    if ids.shape != lps.shape:
        raise InputError(f"ref_ids has shape {ids.shape} but ref_logprobs has shape {lps.shape}")
    if ids.shape[0] != rows:
        raise InputError(f"ref_ids has {ids.shape[0]} rows but var_logits has {rows}")
    if ids.shape[1] > vocab:
        raise InputError(f"K = {ids.shape[1]} exceeds the vocab of {vocab}")
    _check_range(ids, "ref_ids", 0, vocab)
    if ids.shape[1] > 1 and ids.size and (np.diff(np.sort(ids, axis=1), axis=1) == 0).any():
        raise InputError("ref_ids repeats a token id within a row")
    t = _targets(targets, rows, vocab)
    ids32 = np.ascontiguousarray(ids, dtype=np.int32)
    lps32 = np.ascontiguousarray(lps, dtype=np.float32)
    return TopKTail(**_core.topk_tail_divergence(ids32, lps32, q, t))


def class_mass(logits: Any, class_map: Any, n_classes: int) -> np.ndarray:
    """Probability mass of each class per row: float64 ``[rows, n_classes]``.

    ``class_map``: integer ``[vocab]``, the class of each token in ``[0, n_classes)`` or -1 for
    tokens in no class. Masses sum to 1 over classes when every token has a class. Invalid rows
    give NaN.
    """
    x = _matrix(logits, "logits")
    n = _count(n_classes, "n_classes")
    cm = _class_map(class_map, x.shape[1], n)
    return _core.class_mass(x, cm, n)


def topk(logits: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k most probable tokens per row: (ids int32 ``[rows, k]``, log-probs float64 ``[rows, k]``).

    Sorted by probability, descending; ties by lower id. ``0 <= k <= vocab``. Invalid rows give
    ids -1 and NaN log-probs.
    """
    x = _matrix(logits, "logits")
    kk = _count(k, "k")
    if kk > x.shape[1]:
        raise InputError(f"k = {kk} exceeds the vocab of {x.shape[1]}")
    ids, lps = _core.topk(x, kk)
    return ids, lps


# ------------------------------------------------------------------------------------------------
# accumulators

#: What ``_core.moments`` returns: (count, nan_count, mean, m2, min, max).
Moments: TypeAlias = tuple[int, int, float, float, float, float]


def _ids(ids: Any, n_vocab: int) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"ids must be integers, got {arr.dtype}")
    arr = arr.reshape(-1)
    _check_range(arr, "ids", 0, n_vocab)
    if arr.dtype not in (np.int32, np.int64):
        arr = arr.astype(np.int64)
    return np.ascontiguousarray(arr)


class TokenHistogram:
    """Counts of token ids (and of their classes) over streams of ids, accumulated across calls.

    ``class_map`` (optional): integer ``[n_vocab]`` with the class of each token in
    ``[0, n_classes)`` or -1 for none; ``n_classes`` defaults to ``class_map.max() + 1``.
    Safe to share between threads.
    """

    def __init__(self, n_vocab: int, class_map: Any = None, n_classes: int = 0) -> None:
        self._n_vocab = _count(n_vocab, "n_vocab", 1)
        nc = _count(n_classes, "n_classes")
        if class_map is not None:
            if nc == 0:
                cm = _int_array(class_map, "class_map", 1)
                nc = int(cm.max()) + 1 if cm.size else 0
            self._class_map: np.ndarray | None = _class_map(class_map, self._n_vocab, nc)
        else:
            self._class_map = None
        self._n_classes = nc
        self._counts = np.zeros(self._n_vocab, dtype=np.int64)
        self._class_counts = np.zeros(nc, dtype=np.int64)
        self._total = 0
        self._lock = threading.Lock()

    @property
    def n_vocab(self) -> int:
        return self._n_vocab

    @property
    def n_classes(self) -> int:
        return self._n_classes

    def add(self, ids: Any) -> None:
        """Count a stream of token ids (any integer array; ids must be in ``[0, n_vocab)``)."""
        arr = _ids(ids, self._n_vocab)
        with self._lock:
            if self._class_map is not None:
                _core.histogram_add(arr, self._counts, self._class_map, self._class_counts)
            else:
                _core.histogram_add(arr, self._counts)
            self._total += int(arr.size)

    @property
    def counts(self) -> np.ndarray:
        """int64 ``[n_vocab]``: how often each id was seen (a copy)."""
        with self._lock:
            return self._counts.copy()

    @property
    def class_counts(self) -> np.ndarray:
        """int64 ``[n_classes]``: how often a token of each class was seen (a copy)."""
        with self._lock:
            return self._class_counts.copy()

    @property
    def total(self) -> int:
        """Number of ids counted."""
        return self._total

    def merge(self, other: TokenHistogram) -> TokenHistogram:
        """Add another histogram's counts (same vocab and class map) to this one; returns self."""
        if not isinstance(other, TokenHistogram):
            raise InputError(f"can only merge a TokenHistogram, got {type(other).__name__}")
        same_map = (self._class_map is None and other._class_map is None) or (
            self._class_map is not None
            and other._class_map is not None
            and np.array_equal(self._class_map, other._class_map)
        )
        if other._n_vocab != self._n_vocab or other._n_classes != self._n_classes or not same_map:
            raise InputError("histograms differ in vocab size or class map and cannot be merged")
        counts, class_counts, total = other.counts, other.class_counts, other.total
        with self._lock:
            self._counts += counts
            self._class_counts += class_counts
            self._total += total
        return self

    def reset(self) -> None:
        """Forget all counts."""
        with self._lock:
            self._counts[:] = 0
            self._class_counts[:] = 0
            self._total = 0

    def __repr__(self) -> str:
        return f"TokenHistogram(n_vocab={self._n_vocab}, n_classes={self._n_classes}, total={self._total})"


class Summary:
    """Streaming summary of per-row values (e.g. per-token KL) accumulated across calls.

    Count, mean, standard deviation (sample, ddof=1), standard error of the mean, min and max are
    kept as running moments (merged exactly); all values are kept too, so percentiles are exact
    (numpy's 'linear' method). NaN values are skipped and counted in ``nan_count``; infinite
    values make the mean infinite and the std NaN. Statistics of an empty summary are NaN.
    """

    _EMPTY: ClassVar[Moments] = (0, 0, 0.0, 0.0, float("inf"), float("-inf"))

    def __init__(self) -> None:
        self._moments: Moments = self._EMPTY
        self._chunks: list[np.ndarray] = []
        self._lock = threading.Lock()

    def add(self, values: Any) -> None:
        """Add values (any array-like of numbers; flattened)."""
        try:
            arr = np.array(values, dtype=np.float64).reshape(-1)  # a copy: the summary keeps it
        except (TypeError, ValueError) as e:
            raise InputError(f"Summary.add needs numbers: {e}") from None
        m = _core.moments(arr)
        kept = arr[~np.isnan(arr)]
        with self._lock:
            self._moments = _core.merge_moments(self._moments, m)
            if kept.size:
                self._chunks.append(kept)

    def merge(self, other: Summary) -> Summary:
        """Add another summary's values to this one; returns self."""
        if not isinstance(other, Summary):
            raise InputError(f"can only merge a Summary, got {type(other).__name__}")
        with other._lock:
            m, chunks = other._moments, list(other._chunks)
        with self._lock:
            self._moments = _core.merge_moments(self._moments, m)
            self._chunks.extend(chunks)
        return self

    @property
    def count(self) -> int:
        return int(self._moments[0])

    @property
    def nan_count(self) -> int:
        return int(self._moments[1])

    @property
    def mean(self) -> float:
        return float(self._moments[2]) if self.count else float("nan")

    @property
    def std(self) -> float:
        n = self.count
        return float(np.sqrt(self._moments[3] / (n - 1))) if n > 1 else float("nan")

    @property
    def sem(self) -> float:
        n = self.count
        return self.std / float(np.sqrt(n)) if n > 1 else float("nan")

    @property
    def min(self) -> float:
        return float(self._moments[4]) if self.count else float("nan")

    @property
    def max(self) -> float:
        return float(self._moments[5]) if self.count else float("nan")

    @property
    def values(self) -> np.ndarray:
        """All non-NaN values added, in order (a float64 array)."""
        with self._lock:
            if len(self._chunks) > 1:
                self._chunks = [np.concatenate(self._chunks)]
            return self._chunks[0].copy() if self._chunks else np.empty(0, dtype=np.float64)

    def percentile(self, q: float | Sequence[float]) -> float | np.ndarray:
        """Exact percentile(s), q in [0, 100], equal to ``np.percentile(values, q)``."""
        qa = np.asarray(q, dtype=np.float64)
        if qa.size and (np.isnan(qa).any() or qa.min() < 0 or qa.max() > 100):
            raise InputError(f"percentiles must be in [0, 100], got {q!r}")
        v = self.values
        if v.size == 0:
            return float("nan") if qa.ndim == 0 else np.full(qa.shape, np.nan)
        r = np.percentile(v, qa)
        return float(r) if qa.ndim == 0 else r

    _QUANTILES = (5, 25, 50, 75, 95)

    def to_dict(self) -> dict[str, float | int]:
        """count, nan_count, mean, std, sem, min, max and p5/p25/p50/p75/p95."""
        out: dict[str, float | int] = {
            "count": self.count,
            "nan_count": self.nan_count,
            "mean": self.mean,
            "std": self.std,
            "sem": self.sem,
            "min": self.min,
            "max": self.max,
        }
        ps = self.percentile(list(self._QUANTILES))
        for q, v in zip(self._QUANTILES, np.atleast_1d(ps), strict=True):
            out[f"p{q}"] = float(v)
        return out

    def __repr__(self) -> str:
        return f"Summary(count={self.count}, mean={self.mean:.6g}, std={self.std:.6g})"
