"""Cold-start metrics of one logits row, and comparisons between rows.

All sums over token sets go through the native core (``tokprobe.core.class_mass`` over the
membership cells of the keyword / STP / NLP / indentation sets, ``row_stats`` for the
log-normaliser and entropy, ``topk``, ``divergence``); per-token probabilities (for per-language
PKP, the 80..95% holder counts, keyword ranks, shifts) are gathered from the same row in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import core
from ..errors import Error
from .tokensets import TokenSets

HOLD_LEVELS = (0.80, 0.85, 0.90, 0.95)


def as_matrix(row: np.ndarray) -> np.ndarray:
    """A [V] or [1, V] logits row as a C-contiguous float32 [1, V] matrix (no copy when possible)."""
    m = np.asarray(row)
    if m.ndim == 1:
        m = m[None, :]
    return np.ascontiguousarray(m, dtype=np.float32)


def holders(probs: np.ndarray, levels: Sequence[float] = HOLD_LEVELS) -> dict[float, int]:
    """For each level q: the smallest number of tokens (most probable first) whose probability
    sum reaches q times the set's total. 0 when the set is empty or its total is 0."""
    p = np.sort(np.asarray(probs, dtype=np.float64))[::-1]
    total = float(p.sum())
    out: dict[float, int] = {}
    if p.size == 0 or not total > 0:
        return {q: 0 for q in levels}
    cum = np.cumsum(p)
    for q in levels:
        # tolerance: the cumulative sum of the same numbers can fall a hair below q*total
        n = int(np.searchsorted(cum, q * total * (1 - 1e-12), side="left")) + 1
        out[q] = min(n, p.size)
    return out


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN when either side is constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size < 2 or a.size != b.size:
        return float("nan")
    ra = pd.Series(a).rank(method="average").to_numpy(dtype=np.float64, copy=True)
    rb = pd.Series(b).rank(method="average").to_numpy(dtype=np.float64, copy=True)
    ra -= ra.mean()
    rb -= rb.mean()
    den = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


@dataclass
class RowMetrics:
    """Everything measured on one cold-start row."""

    logsumexp: float
    entropy: float
    argmax: int
    pkp: float
    stp: float
    nlp: float
    indent: float
    control: float
    kap: float
    keyword_p: np.ndarray  # float64, aligned with sets.keyword_ids
    language: dict[str, tuple[float, float]]  # language -> (pkp, kap)
    pkp_holders: dict[float, int]
    stp_holders: dict[float, int]
    top_ids: np.ndarray
    top_logprobs: np.ndarray
    class_mass: dict[str, float] = field(default_factory=dict)
    keyword_rank: np.ndarray | None = None  # 1-based rank of each keyword token in the full vocabulary


def row_metrics(row: np.ndarray, sets: TokenSets, top_k: int = 20) -> RowMetrics:
    """Measure one cold-start logits row against the token sets of its vocabulary."""
    m = as_matrix(row)
    if m.shape[1] != sets.n_vocab:
        raise Error(f"logits row has {m.shape[1]} entries but the vocabulary has {sets.n_vocab}")
    rs = core.row_stats(m)
    lse = float(rs.logsumexp[0])
    if not np.isfinite(lse):
        raise Error("the model produced non-finite logits at the cold-start position")
    cells = np.asarray(core.class_mass(m, sets.cell_map(), 16), dtype=np.float64)[0]
    bits = np.arange(16)

    def mass(bit: int) -> float:
        return float(cells[(bits & bit) != 0].sum())

    v = m[0]
    kw_p = np.exp(v[sets.keyword_ids].astype(np.float64) - lse)
    stp_p = np.exp(v[sets.stp_mask].astype(np.float64) - lse)
    control = float(np.exp(v[sets.control_mask].astype(np.float64) - lse).sum()) if sets.control_mask.any() else 0.0
    pkp = mass(1)
    language: dict[str, tuple[float, float]] = {}
    pos = {int(t): j for j, t in enumerate(sets.keyword_ids)}
    for lang, ids in sets.language_ids.items():
        lp = float(kw_p[[pos[int(t)] for t in ids]].sum()) if ids.size else 0.0
        n = sets.language_n_keywords.get(lang, 0)
        language[lang] = (lp, lp / n if n else float("nan"))
    k = max(1, min(int(top_k), sets.n_vocab))
    top_ids, top_lp = core.topk(m, k)
    class_mass: dict[str, float] = {}
    if sets.class_map is not None and sets.class_names:
        cm = np.asarray(core.class_mass(m, sets.class_map, len(sets.class_names)), dtype=np.float64)[0]
        class_mass = {name: float(cm[j]) for j, name in enumerate(sets.class_names)}
    sorted_v = np.sort(v)
    kw_rank = v.size - np.searchsorted(sorted_v, v[sets.keyword_ids], side="right") + 1
    return RowMetrics(
        logsumexp=lse,
        entropy=float(rs.entropy[0]),
        argmax=int(rs.argmax[0]),
        pkp=pkp,
        stp=mass(2),
        nlp=mass(4),
        indent=mass(8),
        control=control,
        kap=pkp / sets.n_keywords if sets.n_keywords else float("nan"),
        keyword_p=kw_p,
        language=language,
        pkp_holders=holders(kw_p),
        stp_holders=holders(stp_p),
        top_ids=np.asarray(top_ids[0], dtype=np.int64),
        top_logprobs=np.asarray(top_lp[0], dtype=np.float64),
        class_mass=class_mass,
        keyword_rank=np.asarray(kw_rank, dtype=np.int64),
    )


def probabilities(row: np.ndarray, logsumexp: float) -> np.ndarray:
    """Full-vocabulary float64 probabilities of a row, given its log-normaliser."""
    return np.exp(np.asarray(row, dtype=np.float64).reshape(-1) - logsumexp)


def divergence(ref_row: np.ndarray, var_row: np.ndarray) -> dict[str, Any]:
    """KL both ways, JS, top-k overlaps and argmax agreement of two cold-start rows (core)."""
    d = core.divergence(as_matrix(ref_row), as_matrix(var_row))
    return {
        "kl": float(d.kl[0]),
        "kl_reverse": float(d.kl_reverse[0]),
        "js": float(d.js[0]),
        "entropy_ref": float(d.entropy_ref[0]),
        "entropy_var": float(d.entropy_var[0]),
        "top1_agree": bool(int(d.argmax_ref[0]) == int(d.argmax_var[0])),
        "top5_overlap": float(d.top5_overlap[0]),
        "top10_overlap": float(d.top10_overlap[0]),
    }


def largest_shifts(p_ref: np.ndarray, p_var: np.ndarray, n: int) -> np.ndarray:
    """Ids of the ``n`` tokens whose probability moved most (|Δp|), largest first, ties by id."""
    delta = np.abs(p_var - p_ref)
    n = max(0, min(int(n), delta.size))
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    cand = np.argpartition(-delta, n - 1)[:n] if n < delta.size else np.arange(delta.size)
    # include every token tied with the n-th largest so the tie-break by id is exact
    thresh = delta[cand].min()
    cand = np.flatnonzero(delta >= thresh)
    order = np.lexsort((cand, -delta[cand]))
    return cand[order][:n].astype(np.int64)
