"""Plots of cold-start results (matplotlib, Agg canvas; no pyplot global state)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import io

if TYPE_CHECKING:  # matplotlib is imported only when a plot is drawn
    from matplotlib.figure import Figure

METRICS = (("pkp", "PKP"), ("stp", "STP"), ("nlp", "NLP"), ("indent_p", "indentation"))


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return Path(path)


def plot_metrics(summary: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """PKP / STP / NLP / indentation probability per model, in the order given (e.g. a quant
    ladder from F16 down), log scale, PKP with its 95 % interval (keyword set resampled), with KL to
    the reference on a second panel."""
    labels = [str(m) for m in summary["model"]]
    x = np.arange(len(labels))
    has_kl = "kl_to_ref" in summary and len(labels) > 1
    fig = _figure(max(6.0, 0.9 * len(labels) + 3), 6.5 if has_kl else 4.2)
    axes = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]}) if has_kl else [fig.subplots()]
    ax = axes[0]
    for col, name in METRICS:
        if col in summary:
            y = summary[col].to_numpy(dtype=float)
            line = ax.plot(x, np.where(y > 0, y, np.nan), marker="o", label=name)[0]
            if f"{col}_lo" in summary and f"{col}_hi" in summary:  # PKP: keyword set resampled (.intervals)
                lo, hi = summary[f"{col}_lo"].to_numpy(dtype=float), summary[f"{col}_hi"].to_numpy(dtype=float)
                yerr = np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])
                ax.errorbar(x, y, yerr=yerr, fmt="none", ecolor=line.get_color(), capsize=3)
    ax.set_yscale("log")
    ax.set_ylabel("cold-start probability mass")
    context = ", ".join(dict.fromkeys(str(c) for c in summary.get("context", [])))
    ax.set_title(f"Cold-start mass per model (context {context})" if context else "Cold-start mass per model")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    if has_kl:
        ax2 = axes[1]
        kl = summary["kl_to_ref"].to_numpy(dtype=float)
        ax2.bar(x, kl, color="tab:gray")
        ax2.set_ylabel("KL(ref || model), nats")
        ax2.grid(True, axis="y", alpha=0.3)
    last = axes[-1]
    last.set_xticks(x)
    last.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    return _save(fig, path)


def _short(text: str, n: int = 18) -> str:
    t = repr(str(text))  # quoted, so whitespace tokens stay visible
    return t if len(t) <= n else t[: n - 2] + "…" + t[-1]


def plot_shifts(shifts: pd.DataFrame, path: str | os.PathLike[str], per_model: int = 10) -> Path:
    """Horizontal bars of the largest Δp (variant - reference) per variant model."""
    models = list(dict.fromkeys(str(m) for m in shifts["model"]))
    n = max(1, len(models))
    from matplotlib.ticker import MaxNLocator

    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig = _figure(4.6 * cols, 0.32 * per_model * rows + 1.2 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    ref = str(shifts["reference"].iloc[0]) if len(shifts) else ""
    for ax, model in zip(axes, models, strict=False):
        d = shifts[shifts["model"] == model].sort_values("rank").head(per_model)
        y = np.arange(len(d))[::-1]
        delta = d["delta_p"].to_numpy(dtype=float)
        ax.barh(y, delta, color=np.where(delta >= 0, "tab:red", "tab:blue"))
        ax.set_yticks(y)
        ax.set_yticklabels([f"{_short(t)} [{i}]" for t, i in zip(d["text"], d["token_id"], strict=True)], fontsize=7)
        ax.axvline(0, color="black", lw=0.6)
        ax.set_title(model, fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(4))
    for ax in axes[len(models):]:
        ax.set_visible(False)
    fig.suptitle(f"Largest cold-start probability shifts vs {ref} (Δp)", fontsize=10)
    return _save(fig, path)
