"""95 % intervals of the keyword masses: a bootstrap over the keyword tokens.

PKP is a sum over a chosen set of keyword tokens, so part of its value is the choice of that set.
The bootstrap resamples the keyword tokens with replacement (``B`` replicates of ``n`` draws, seeded)
and recomputes the mass, scaled to the full set: ``PKP* = PKP * sum(p[draw]) / sum(p)``. For a variant
against the reference the same draws are used on both sides (paired), giving an interval of the
ratio ``PKP_var / PKP_ref`` — the cold-start shift — that says whether the shift holds whatever
keywords are picked. STP, NLP and the indent mass are masses of structurally defined sets (every
space-led token, ...) at one position: there is no sampling unit, so they get no interval.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

N_BOOT = 1000
SEED = 0
LEVEL = 0.95
RULE = (f"bootstrap over the keyword tokens: {N_BOOT} replicates of n draws with replacement, seed {SEED}, "
        f"{LEVEL:.0%} percentile interval; paired (same draws) for the ratio of a variant's PKP to the reference's")


def draws(n: int, n_boot: int = N_BOOT, seed: int = SEED) -> np.ndarray:
    """``[n_boot, n]`` multinomial counts: how often each keyword token is drawn in each replicate."""
    if n < 1:
        return np.zeros((n_boot, 0))
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def _percentiles(reps: np.ndarray) -> tuple[float, float]:
    reps = reps[np.isfinite(reps)]
    if reps.size < 2:
        return math.nan, math.nan
    a = (1.0 - LEVEL) / 2.0
    lo, hi = np.percentile(reps, [100 * a, 100 * (1 - a)])
    return float(lo), float(hi)


def mass_interval(keyword_p: np.ndarray, value: float, counts: np.ndarray) -> tuple[float, float]:
    """(lo, hi) of a keyword mass ``value`` whose per-token probabilities are ``keyword_p``."""
    p = np.asarray(keyword_p, dtype=np.float64)
    total = float(p.sum())
    if p.size < 2 or total <= 0 or counts.shape[1] != p.size:
        return math.nan, math.nan
    return _percentiles(value * (counts @ p) / total)


def ratio_interval(var_p: np.ndarray, ref_p: np.ndarray, counts: np.ndarray) -> dict[str, Any]:
    """``pkp_ratio`` (variant / reference) with its paired interval; NaN when the sets differ."""
    a, b = np.asarray(var_p, dtype=np.float64), np.asarray(ref_p, dtype=np.float64)
    if a.shape != b.shape or a.size < 2 or counts.shape[1] != a.size or b.sum() <= 0:
        return {"pkp_ratio": math.nan, "pkp_ratio_lo": math.nan, "pkp_ratio_hi": math.nan}
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = (counts @ a) / (counts @ b)
    lo, hi = _percentiles(reps)
    return {"pkp_ratio": float(a.sum() / b.sum()), "pkp_ratio_lo": lo, "pkp_ratio_hi": hi}
