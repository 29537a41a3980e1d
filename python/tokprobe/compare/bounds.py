"""Error bounds and coarse-grained divergences of the cached reference modes.

``cache-exact`` stores float16 log-probs: :func:`f16_kl_error_bound` bounds what that rounding
does to each token's KL. ``cache-topk`` stores the top-K and the tail mass: KL, reverse KL and JS
of the coarse-grained (top-K + tail) distributions are lower bounds of the true values, and
:func:`tail_upper_bound` gives an upper end of the KL interval.
"""

from __future__ import annotations

import numpy as np


def float16_logprobs(logits: np.ndarray, lse: np.ndarray, block: int = 32) -> np.ndarray:
    """float16 log-probs of the rows of ``logits`` (computed in row blocks to bound the temporaries)."""
    out = np.empty(logits.shape, dtype=np.float16)
    lse32 = np.asarray(lse, dtype=np.float32)
    for r in range(0, logits.shape[0], block):
        out[r: r + block] = logits[r: r + block] - lse32[r: r + block, None]
    return out


def overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, the share of ``a``'s K ids that are also among ``b``'s."""
    k = a.shape[1]
    share: np.ndarray = (a[:, :, None] == b[:, None, :]).any(axis=2).sum(axis=1) / float(k)
    return share


def xlogy_ratio(x: np.ndarray, logx: np.ndarray, logy: np.ndarray) -> np.ndarray:
    """x * (log x - log y) with 0 log 0 = 0."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.where(x > 0, x * (logx - logy), 0.0)


def coarse_reverse_js(ref_lp: np.ndarray, tail_ref: np.ndarray, var_logits_k: np.ndarray,
                      tail_var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    rev = xlogy_ratio(Q, LQ, LP).sum(axis=1)
    M = 0.5 * (P + Q)
    with np.errstate(divide="ignore"):
        LM = np.log(M)
    js = 0.5 * xlogy_ratio(P, LP, LM).sum(axis=1) + 0.5 * xlogy_ratio(Q, LQ, LM).sum(axis=1)
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


def tail_upper_bound(ref_lp: np.ndarray, tail_ref: np.ndarray, entropy_ref: np.ndarray, var_logits_k: np.ndarray,
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
    upper: np.ndarray = head + h_t - pt * lq_min
    return upper


def tail_mass(topk_logprobs: np.ndarray) -> np.ndarray:
    """1 - sum of the top-K probabilities, computed without cancellation."""
    lp = np.asarray(topk_logprobs, dtype=np.float64)
    m = lp.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(lp - m).sum(axis=1, keepdims=True)))[:, 0]
    tail: np.ndarray = np.clip(-np.expm1(np.minimum(lse, 0.0)), 0.0, 1.0)
    return tail
