"""Tables people read: each mean next to its 95 % interval in one cell, small groups marked "too few".

The result files keep every statistic as its own column (``kl_mean``, ``kl_mean_lo``, ``kl_mean_hi``,
...); the report and the terminal show the key means only, as ``value [lo, hi]``, with the tokens and
files each rests on and an ``evidence`` column that says "too few" for a group under the minimum
(:mod:`tokprobe.bootstrap`: 200 tokens or 3 files), which is never ranked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

#: (column, label) of the means a divergence table shows, in this order.
DIVERGENCE_MEANS: tuple[tuple[str, str], ...] = (
    ("kl_mean", "KL"),
    ("kl_reverse_mean", "reverse KL"),
    ("js_mean", "JS"),
    ("same_top1", "same top-1"),
    ("top5_agreement", "top-5 agreement"),
    ("dp_mean", "Δp"),
    ("ln_ppl_ratio", "ln PPL ratio"),
    ("bpb_var", "bits/byte"),
)
TOO_FEW = "too few"


def _num(v: object) -> str:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–" if v is None else str(v)
    if math.isnan(x):
        return "–"
    return f"{x:.3g}" if x == 0 or 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def with_interval(value: object, lo: object, hi: object) -> str:
    """``0.934 [0.874, 1.01]``; the value alone when the interval is missing (fewer than 2 files)."""
    bounds = (_num(lo), _num(hi))
    if "–" in bounds:
        return _num(value)
    return f"{_num(value)} [{bounds[0]}, {bounds[1]}]"


def interval_view(df: pd.DataFrame, keys: Sequence[str],
                  means: Sequence[tuple[str, str]] = DIVERGENCE_MEANS) -> pd.DataFrame:
    """``df``'s ``keys``, its tokens and files, each mean of ``means`` as ``value [lo, hi]``, and the
    evidence column ("too few" where the group is under the minimum)."""
    out = pd.DataFrame({k: df[k].to_numpy() for k in keys if k in df.columns})
    for col, label in (("n_tokens", "tokens"), ("n_files", "files")):
        if col in df.columns:
            out[label] = df[col].astype("Int64").to_numpy()
    for col, label in means:
        if col not in df.columns:
            continue
        lo, hi = f"{col}_lo", f"{col}_hi"
        if lo in df.columns and hi in df.columns:
            out[label] = [with_interval(v, a, b) for v, a, b in zip(df[col], df[lo], df[hi], strict=True)]
        else:
            out[label] = [_num(v) for v in df[col]]
    if "too_few" in df.columns:
        out["evidence"] = [TOO_FEW if bool(f) else "" for f in df["too_few"]]
    return out
