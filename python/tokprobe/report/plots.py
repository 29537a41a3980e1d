"""Study-level plots (per-analysis plots come from the analyses themselves)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import io


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    _plt().close(fig)
    return path


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of points no other point beats on both axes (smaller x and smaller y), by x."""
    order = np.argsort(x, kind="stable")
    front: list[int] = []
    best = math.inf
    for i in order:
        if y[i] < best:
            front.append(int(i))
            best = y[i]
    return np.asarray(front, dtype=np.int64)


def plot_size_vs_kl(df: pd.DataFrame, path: Path, x: str = "bits_per_weight") -> Path:
    """Mean KL (log scale) against bits per weight, with the Pareto front; the reference at KL 0 is omitted."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    d = df[np.isfinite(df[x]) & (df["kl_mean"] > 0)].reset_index(drop=True)
    ax.errorbar(d[x], d["kl_mean"], yerr=interval_yerr(d, "kl_mean", "kl_err"), fmt="o", color="#1f77b4", capsize=3)
    for r in d.itertuples():
        ax.annotate(str(r.label), (getattr(r, x), r.kl_mean), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if len(d):
        f = pareto_front(d[x].to_numpy(float), d["kl_mean"].to_numpy(float))
        ax.plot(d[x].to_numpy()[f], d["kl_mean"].to_numpy()[f], "-", color="#d62728", alpha=0.6, label="Pareto front")
        ax.legend()
    ax.set_yscale("log")
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel("mean KL(ref || variant), nats/token")
    ax.set_title("Size vs divergence on code")
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def interval_yerr(d: pd.DataFrame, value: str, err: str | None = None) -> np.ndarray | None:
    """Error bars ``[2, n]`` from the 95 % interval columns ``<value>_lo/_hi`` (files resampled), else
    from a standard-error column ``err``; None when the table has neither."""
    v = d[value].to_numpy(float)
    if f"{value}_lo" in d.columns and f"{value}_hi" in d.columns:
        lo, hi = d[f"{value}_lo"].to_numpy(float), d[f"{value}_hi"].to_numpy(float)
        return np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
    if err is not None and err in d.columns:
        e = d[err].to_numpy(float)
        return np.vstack([e, e])
    return None


def plot_grouped_bars(df: pd.DataFrame, category: str, value: str, series: str, path: Path, title: str,
                      ylabel: str, log: bool = False) -> Path:
    """One group of bars per ``category`` value, one bar per ``series`` value; with the 95 % interval
    of each bar where the table has ``<value>_lo/_hi``. Groups flagged ``too_few`` are drawn hollow and
    hatched, without an interval: shown, not offered as a finding."""
    plt = _plt()
    piv = df.pivot_table(index=category, columns=series, values=value, aggfunc="mean", sort=False)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.6 * len(piv) * max(1, len(piv.columns)) / 2), 4.5))
    n = max(1, len(piv.columns))
    width = 0.8 / n
    xs = np.arange(len(piv))
    for j, col in enumerate(piv.columns):
        rows = df[df[series] == col].set_index(category).reindex(piv.index)
        few = rows["too_few"].eq(True).to_numpy() if "too_few" in rows.columns else np.zeros(len(xs), dtype=bool)
        yerr = interval_yerr(rows, value)
        if yerr is not None:
            yerr = np.where(few, 0.0, np.nan_to_num(yerr))
        bars = ax.bar(xs + j * width - 0.4 + width / 2, piv[col].to_numpy(float), width, label=str(col), yerr=yerr,
                      capsize=2, error_kw={"elinewidth": 0.8})
        for bar, is_few in zip(bars, few, strict=True):
            if is_few:
                bar.set_fill(False)
                bar.set_hatch("//")
    ax.set_xticks(xs)
    ax.set_xticklabels([str(i) for i in piv.index], rotation=30, ha="right")
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.grid(axis="y", alpha=0.3)
    if "too_few" in df.columns and df["too_few"].astype(bool).any():
        ax.text(0.0, -0.32, "hatched: too few tokens or files (not a finding)", transform=ax.transAxes, fontsize=7)
    return _save(fig, path)


def plot_pass_at_1(df: pd.DataFrame, path: Path) -> Path:
    """pass@1 per model with a 95% Wilson interval over the problems."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(df)), 4.2))
    pairs = [wilson(int(c), int(n)) for c, n in zip(df["n_passed"].tolist(), df["n_problems"].tolist(), strict=True)]
    lo, hi = zip(*pairs, strict=True) if pairs else ((), ())
    p = df["pass_at_k"].to_numpy(float)
    yerr = np.vstack([p - np.asarray(lo), np.asarray(hi) - p]) if len(df) else None
    ax.bar(np.arange(len(df)), p, yerr=yerr, capsize=4, color="#2ca02c")
    ax.set_xticks(np.arange(len(df)))
    ax.set_xticklabels(df["model"].astype(str), rotation=30, ha="right")
    ax.set_ylabel("pass@1")
    ax.set_ylim(0, max(0.05, float(np.max(hi)) * 1.15 if len(df) else 1))
    ax.set_title("HumanEval pass@1 (95% Wilson interval)")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def wilson(passed: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a pass rate."""
    if n <= 0:
        return (math.nan, math.nan)
    p = passed / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))
