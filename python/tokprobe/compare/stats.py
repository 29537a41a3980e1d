"""Statistics of a comparison, from per-token arrays, in float64.

The llama.cpp set (``llama-perplexity --kl-divergence``) is computed the way that tool
defines it (tools/perplexity/perplexity.cpp), with the facts restated here:

- per token: ``nll = -log p(correct)`` under the reference (base, P) and the variant (Q);
  KL(P||Q) over the full vocabulary; ``Δp = p_Q(correct) - p_P(correct)``; same top-1.
- ``mean ± err``: err = sqrt(population variance / (n - 1)) (the standard error of the mean),
  and 0 when n <= 10 or the variance is not positive.
- PPL = exp(mean nll) ± PPL * err(nll).
- ``Cor(ln PPL(Q), ln PPL(base))``: Pearson correlation of the per-token nll of Q and P.
- ``ln(PPL(Q)/PPL(base))`` = mean(nll_Q) - mean(nll_P), err = the standard error of the
  paired per-token differences (= sqrt(err_Q² + err_P² - 2 cov) of llama.cpp).
- ``PPL(Q)/PPL(base)`` = exp(that) ± ratio * err; ``PPL(Q) - PPL(base)`` with the
  covariance-corrected error.
- KL percentiles: max, 99.9, 99, 95, 90, median, 10, 5, 1, 0.1, min (linear interpolation
  between order statistics); Δp adds 75 and 25.
- RMS Δp = sqrt(mean Δp²) ± 0.5 / RMS * err(Δp²).
- same top p = fraction of tokens whose argmax agrees ± sqrt(p (1 - p) / (n - 1)).

llama.cpp computes the reference side from 16-bit quantized log-probs and drops reference
terms below e^-16 from the KL sum; tokprobe's lock-step mode uses exact float32 logits and
float64 sums, so its numbers are what llama.cpp approximates.

Extras: reverse KL, Jensen-Shannon, both mean entropies, top-5/top-10 agreement (mean
overlap of the two top-k sets), bits per byte of both models.

Intervals: every mean over tokens (:data:`INTERVAL_MEANS`) and both bits per byte get a 95 %
interval from a bootstrap that resamples whole files (:mod:`tokprobe.bootstrap`), as columns
``<name>_lo`` and ``<name>_hi``. Rows with a non-finite value are left out of every statistic
and counted (``n_invalid``, :func:`valid_rows`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ..bootstrap import FileBootstrap

KL_PERCENTILES: tuple[tuple[str, float], ...] = (
    ("max", 100.0),
    ("p99.9", 99.9),
    ("p99", 99.0),
    ("p95", 95.0),
    ("p90", 90.0),
    ("median", 50.0),
    ("p10", 10.0),
    ("p5", 5.0),
    ("p1", 1.0),
    ("p0.1", 0.1),
    ("min", 0.0),
)
DP_PERCENTILES: tuple[tuple[str, float], ...] = (
    ("max", 100.0),
    ("p99.9", 99.9),
    ("p99", 99.0),
    ("p95", 95.0),
    ("p90", 90.0),
    ("p75", 75.0),
    ("median", 50.0),
    ("p25", 25.0),
    ("p10", 10.0),
    ("p5", 5.0),
    ("p1", 1.0),
    ("p0.1", 0.1),
    ("min", 0.0),
)
LN2 = math.log(2.0)

# Per-token arrays a comparison produces (float64 unless noted).
TOKEN_FIELDS = (
    "kl",
    "kl_reverse",
    "js",
    "entropy_ref",
    "entropy_var",
    "logp_ref",
    "logp_var",
    "argmax_ref",  # int32
    "argmax_var",  # int32
    "top5_overlap",
    "top10_overlap",
    "kl_lower",  # the true KL lies in [kl_lower, kl_upper]: equal to kl in lock-step,
    "kl_upper",  # kl -/+ the float16 rounding bound in cache-exact, [coarse KL, tail bound] in cache-topk
)


def mean_err(x: np.ndarray) -> tuple[float, float]:
    """Mean and llama.cpp's uncertainty of the mean: sqrt(pop. variance / (n-1)); 0 when n <= 10."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n == 0:
        return math.nan, math.nan
    m = float(np.mean(x))
    var = float(np.mean((x - m) ** 2))
    err = math.sqrt(var / (n - 1)) if (var > 0 and n > 10) else 0.0
    return m, err


def percentiles(x: np.ndarray, table: tuple[tuple[str, float], ...] = KL_PERCENTILES) -> dict[str, float]:
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return {name: math.nan for name, _ in table}
    qs = np.percentile(x, [q for _, q in table])
    return {name: float(v) for (name, _), v in zip(table, qs, strict=True)}


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2:
        return math.nan
    da, db = a - a.mean(), b - b.mean()
    den = math.sqrt(float(np.dot(da, da)) * float(np.dot(db, db)))
    return float(np.dot(da, db)) / den if den > 0 else math.nan


def llama_stats(nll_ref: np.ndarray, nll_var: np.ndarray, kl: np.ndarray, same_top: np.ndarray) -> dict[str, float]:
    """llama.cpp's statistics (see the module docstring); keys are the summary column names."""
    nll_ref = np.asarray(nll_ref, dtype=np.float64)
    nll_var = np.asarray(nll_var, dtype=np.float64)
    kl = np.asarray(kl, dtype=np.float64)
    n = nll_ref.size
    out: dict[str, float] = {"n_tokens": float(n)}
    m_q, e_q = mean_err(nll_var)
    m_p, e_p = mean_err(nll_ref)
    ppl_q, ppl_p = math.exp(m_q) if n else math.nan, math.exp(m_p) if n else math.nan
    out["ppl_ref"], out["ppl_ref_err"] = ppl_p, ppl_p * e_p
    out["ppl_var"], out["ppl_var_err"] = ppl_q, ppl_q * e_q
    out["nll_corr"] = _pearson(nll_var, nll_ref)
    # covariance of the two means as llama.cpp defines it (0 when n < 10)
    cov = float(np.mean((nll_var - m_q) * (nll_ref - m_p))) / (n - 1) if n >= 10 else 0.0
    d_mean, d_err = mean_err(nll_var - nll_ref)
    out["ln_ppl_ratio"], out["ln_ppl_ratio_err"] = d_mean, d_err
    ratio = math.exp(d_mean) if n else math.nan
    out["ppl_ratio"], out["ppl_ratio_err"] = ratio, ratio * d_err
    out["ppl_diff"] = ppl_q - ppl_p
    var_diff = (ppl_q * e_q) ** 2 + (ppl_p * e_p) ** 2 - 2.0 * ppl_q * ppl_p * cov
    out["ppl_diff_err"] = math.sqrt(var_diff) if var_diff > 0 else 0.0
    out["kl_mean"], out["kl_err"] = mean_err(kl)
    for name, v in percentiles(kl, KL_PERCENTILES).items():
        out[f"kl_{name}"] = v
    dp = np.exp(-nll_var) - np.exp(-nll_ref)
    out["dp_mean"], out["dp_err"] = mean_err(dp)
    for name, v in percentiles(dp, DP_PERCENTILES).items():
        out[f"dp_{name}"] = v
    msq, msq_err = mean_err(dp * dp)
    rms = math.sqrt(msq) if n else math.nan
    out["dp_rms"] = rms
    out["dp_rms_err"] = 0.5 / rms * msq_err if rms > 0 else 0.0
    same = np.asarray(same_top, dtype=bool)
    p = float(same.mean()) if n else math.nan
    out["same_top1"] = p
    out["same_top1_err"] = math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else 0.0
    return out


def extra_stats(t: Mapping[str, np.ndarray], n_bytes: np.ndarray) -> dict[str, float]:
    """tokprobe's statistics beyond llama.cpp's set."""
    out: dict[str, float] = {}
    out["kl_reverse_mean"], out["kl_reverse_err"] = mean_err(t["kl_reverse"])
    out["js_mean"], out["js_err"] = mean_err(t["js"])
    out["entropy_ref_mean"] = _mean(t["entropy_ref"])
    out["entropy_var_mean"] = _mean(t["entropy_var"])
    out["top5_agreement"] = _mean(t["top5_overlap"])
    out["top10_agreement"] = _mean(t["top10_overlap"])
    nb = float(np.sum(n_bytes))
    out["n_bytes"] = nb
    out["bpb_ref"] = bits_per_byte(t["logp_ref"], nb)
    out["bpb_var"] = bits_per_byte(t["logp_var"], nb)
    return out


def bits_per_byte(logp: np.ndarray, n_bytes: float) -> float:
    """Total NLL in bits / UTF-8 bytes of the scored text."""
    if n_bytes <= 0:
        return math.nan
    return float(-np.sum(np.asarray(logp, dtype=np.float64))) / LN2 / n_bytes


def _mean(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    return float(x.mean()) if x.size else math.nan


def group_stats(t: Mapping[str, np.ndarray], n_bytes: np.ndarray, sel: np.ndarray, kl_total: float) -> dict[str, float]:
    """Statistics of one group of tokens (a class, a language, an entropy bucket)."""
    nll_ref = -np.asarray(t["logp_ref"], dtype=np.float64)[sel]
    nll_var = -np.asarray(t["logp_var"], dtype=np.float64)[sel]
    kl = np.asarray(t["kl"], dtype=np.float64)[sel]
    n = int(kl.size)
    out: dict[str, float] = {"n_tokens": n}
    out["kl_mean"], out["kl_err"] = mean_err(kl)
    out["kl_p99"] = percentiles(kl, (("p99", 99.0),))["p99"]
    out["kl_max"] = float(kl.max()) if n else math.nan
    out["kl_share"] = float(kl.sum()) / kl_total if kl_total > 0 else math.nan
    out["kl_reverse_mean"] = _mean(np.asarray(t["kl_reverse"])[sel])
    out["js_mean"] = _mean(np.asarray(t["js"])[sel])
    dp = np.exp(-nll_var) - np.exp(-nll_ref)
    out["dp_mean"], out["dp_err"] = mean_err(dp)
    out["dp_rms"] = math.sqrt(float(np.mean(dp * dp))) if n else math.nan
    same = np.asarray(t["argmax_ref"])[sel] == np.asarray(t["argmax_var"])[sel]
    out["same_top1"] = float(same.mean()) if n else math.nan
    out["ppl_ref"] = math.exp(float(nll_ref.mean())) if n else math.nan
    out["ppl_var"] = math.exp(float(nll_var.mean())) if n else math.nan
    out["ln_ppl_ratio"], out["ln_ppl_ratio_err"] = mean_err(nll_var - nll_ref)
    out["entropy_ref_mean"] = _mean(np.asarray(t["entropy_ref"])[sel])
    out["entropy_var_mean"] = _mean(np.asarray(t["entropy_var"])[sel])
    nb = float(np.sum(np.asarray(n_bytes)[sel]))
    out["n_bytes"] = nb
    out["bpb_ref"] = bits_per_byte(-nll_ref, nb)
    out["bpb_var"] = bits_per_byte(-nll_var, nb)
    return out


# Reference-entropy buckets (nats): the reference's confidence at each scored position.
ENTROPY_EDGES: tuple[float, ...] = (0.0, 0.01, 0.1, 0.5, 1.0, 2.0, 4.0, math.inf)


def entropy_bucket_labels(edges: tuple[float, ...] = ENTROPY_EDGES) -> list[str]:
    labels = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        labels.append(f"[{lo:g},{hi:g})" if math.isfinite(hi) else f">={lo:g}")
    return labels


def entropy_bucket(entropy: np.ndarray, edges: tuple[float, ...] = ENTROPY_EDGES) -> np.ndarray:
    """Bucket index of each entropy (nats); NaN -> -1."""
    e = np.asarray(entropy, dtype=np.float64)
    idx = np.searchsorted(np.asarray(edges[1:-1]), e, side="right")
    idx = idx.astype(np.int64)
    idx[~np.isfinite(e)] = -1
    return idx


# Float per-token fields that must be finite for a row to count (argmaxes are integers).
CHECKED_FIELDS = tuple(f for f in TOKEN_FIELDS if not f.startswith("argmax"))


def valid_rows(t: Mapping[str, np.ndarray]) -> np.ndarray:
    """True for the rows whose checked per-token values are all finite."""
    n = len(t["kl"])
    ok = np.ones(n, dtype=bool)
    for f in CHECKED_FIELDS:
        if f in t:
            ok &= np.isfinite(np.asarray(t[f], dtype=np.float64))
    return ok


def token_means(t: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The per-token values behind each mean of the summary, keyed by the summary column."""
    nll_ref = -np.asarray(t["logp_ref"], dtype=np.float64)
    nll_var = -np.asarray(t["logp_var"], dtype=np.float64)
    return {
        "kl_mean": np.asarray(t["kl"], dtype=np.float64),
        "kl_lower_mean": np.asarray(t["kl_lower"], dtype=np.float64),
        "kl_upper_mean": np.asarray(t["kl_upper"], dtype=np.float64),
        "kl_reverse_mean": np.asarray(t["kl_reverse"], dtype=np.float64),
        "js_mean": np.asarray(t["js"], dtype=np.float64),
        "dp_mean": np.exp(-nll_var) - np.exp(-nll_ref),
        "same_top1": (np.asarray(t["argmax_ref"]) == np.asarray(t["argmax_var"])).astype(np.float64),
        "top5_agreement": np.asarray(t["top5_overlap"], dtype=np.float64),
        "top10_agreement": np.asarray(t["top10_overlap"], dtype=np.float64),
        "ln_ppl_ratio": nll_var - nll_ref,
    }


INTERVAL_MEANS = ("kl_mean", "kl_lower_mean", "kl_upper_mean", "kl_reverse_mean", "js_mean", "dp_mean", "same_top1",
                  "top5_agreement", "top10_agreement", "ln_ppl_ratio")


def interval_stats(bs: FileBootstrap, t: Mapping[str, np.ndarray], n_bytes: np.ndarray,
                   names: tuple[str, ...] = INTERVAL_MEANS, bpb: bool = True) -> dict[str, float]:
    """``<name>_lo``/``<name>_hi`` of each mean in ``names`` (and of both bits per byte, and of
    ``ppl_ratio`` = exp(ln PPL ratio)), plus ``n_files`` and ``too_few``, from the file bootstrap ``bs``
    over the rows of ``t`` (all valid: filter with :func:`valid_rows` first)."""
    values = token_means(t)
    out: dict[str, float] = {}
    iv = None
    for name in names:
        iv = bs.mean(values[name])
        out[f"{name}_lo"], out[f"{name}_hi"] = iv.lo, iv.hi
        if name == "ln_ppl_ratio":
            out["ppl_ratio_lo"], out["ppl_ratio_hi"] = math.exp(iv.lo), math.exp(iv.hi)
    if bpb:
        nb = np.asarray(n_bytes, dtype=np.float64)
        for side in ("ref", "var"):
            r = bs.ratio(-np.asarray(t[f"logp_{side}"], dtype=np.float64) / LN2, nb)
            out[f"bpb_{side}_lo"], out[f"bpb_{side}_hi"] = r.lo, r.hi
    if iv is not None:
        out["n_files"] = iv.n_files
        out["too_few"] = iv.too_few
    return out
