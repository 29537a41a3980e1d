"""pass@k bar plots (matplotlib, Agg backend, PNG)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from .passk import plot_ks


def plot_pass_at_k(
    tables: Mapping[str, pd.DataFrame], path: str | os.PathLike[str], *, title: str = "HumanEval pass@k"
) -> Path:
    """Grouped bars: one group per k, one bar per model (``tables``: model -> pass_at_k table),
    with standard-error whiskers over problems. Written atomically."""
    # The Agg canvas directly, without pyplot: no global backend switch, no global state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ks = plot_ks([int(k) for t in tables.values() for k in t["k"]])
    names = list(tables)
    fig = Figure(figsize=(max(5.5, 1.5 + 0.55 * len(ks) * max(1, len(names))), 3.8), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(names))
    x = np.arange(len(ks))
    for j, name in enumerate(names):
        t = tables[name]
        by_k = dict(zip(t["k"].tolist(), zip(t["pass_at_k"].tolist(), t["stderr"].tolist(), strict=True), strict=True))
        vals = [float(by_k[k][0]) if k in by_k else np.nan for k in ks]
        errs = [float(by_k[k][1]) if k in by_k and np.isfinite(by_k[k][1]) else 0.0 for k in ks]
        bars = ax.bar(x + (j - (len(names) - 1) / 2) * width, vals, width, yerr=errs, capsize=3, label=name)
        for b, v in zip(bars, vals, strict=True):
            if np.isfinite(v):
                ax.annotate(f"{v:.3f}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=7,
                            xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(x, [f"pass@{k}" for k in ks])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("pass@k (mean over problems)")
    n_problems = max(int(t["n_problems"].max()) for t in tables.values()) if tables else 0
    ax.set_title(f"{title}\n({n_problems} problems)", fontsize=9)
    if len(names) > 1:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    target = Path(path)
    with io.atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    return target
