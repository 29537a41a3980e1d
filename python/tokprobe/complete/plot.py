"""Exact match and validity per language and model, with 95 % file-bootstrap intervals (PNG, Agg canvas)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io

PANELS = (("exact", "exact match"), ("valid", "syntactic validity"))


def plot_summary(summary: pd.DataFrame, path: str | os.PathLike[str], *, title: str = "Completion probes") -> Path:
    """Two panels (exact match, validity): one group of bars per language (``all`` first), one bar
    per model, whiskers from the ``*_lo``/``*_hi`` columns of :meth:`CompleteResult.summary`. Groups
    flagged ``too_few`` are hatched. Written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    models = list(dict.fromkeys(summary["model"].tolist()))
    langs = list(dict.fromkeys(summary["language"].tolist()))
    width = 0.8 / max(1, len(models))
    x = np.arange(len(langs))
    fig = Figure(figsize=(min(14.0, max(7.0, 1.2 + 0.12 * len(langs) * max(1, len(models)))), 6.8), dpi=110)
    FigureCanvasAgg(fig)
    for row, (metric, label) in enumerate(PANELS):
        ax = fig.add_subplot(len(PANELS), 1, row + 1)
        for j, model in enumerate(models):
            sub = summary[summary["model"] == model].set_index("language").reindex(langs)
            vals = sub[metric].to_numpy(dtype=np.float64)
            lo = np.nan_to_num(vals - sub[f"{metric}_lo"].to_numpy(dtype=np.float64), nan=0.0)
            hi = np.nan_to_num(sub[f"{metric}_hi"].to_numpy(dtype=np.float64) - vals, nan=0.0)
            few = sub["too_few"].fillna(True).astype(bool).to_numpy() if "too_few" in sub else np.zeros(len(langs))
            bars = ax.bar(x + (j - (len(models) - 1) / 2) * width, vals, width, yerr=[lo, hi], capsize=1.5,
                          label=model if row == 0 else None, error_kw={"elinewidth": 0.7})
            for b, f in zip(bars, few, strict=True):
                if f:
                    b.set_hatch("//")
        ax.set_xticks(x, langs, fontsize=8, rotation=30)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(label, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    n = int(summary.loc[summary["language"] == "all", "n"].max()) if (summary["language"] == "all").any() else 0
    fig.suptitle(f"{title} ({n} probes per model; 95 % intervals resample files; hatched: too few)", fontsize=9)
    bottom = 0.0
    if len(models) > 1:
        fig.legend(loc="lower center", fontsize=7, ncol=min(4, len(models)), frameon=False)
        bottom = 0.03 * ((len(models) + 3) // 4) + 0.02
    fig.tight_layout(rect=(0.0, bottom, 1.0, 1.0))
    target = Path(path)
    with io.atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    return target
