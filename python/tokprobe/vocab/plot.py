"""Coverage heatmap: languages (rows) x tokenizers (columns), PNG via matplotlib's Agg backend."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import io
from ..errors import EmptyInputError, InputError
from ..lexicon.languages import DISPLAY_NAMES


def plot_coverage_heatmap(
    summary: pd.DataFrame, path: str | os.PathLike[str], *, form: str = "any", title: str | None = None
) -> Path:
    """Write a heatmap of keyword coverage (share of keywords that are one token) for ``form``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    if form not in set(summary["form"]):
        raise InputError(f"no coverage for form {form!r}; have {', '.join(sorted(set(summary['form'])))}")
    d = summary[summary["form"] == form]
    if d.empty:
        raise EmptyInputError("nothing to plot")
    if "tokenizer" not in d.columns:
        d = d.assign(tokenizer="tokenizer")
    grid = d.pivot_table(index="language", columns="tokenizer", values="coverage", sort=False)
    langs = list(dict.fromkeys(d["language"]))
    toks = list(dict.fromkeys(d["tokenizer"]))
    grid = grid.reindex(index=langs, columns=toks)
    values = grid.to_numpy(dtype=float)
    fig = Figure(figsize=(1.6 + 1.25 * len(toks), 1.2 + 0.42 * len(langs)), dpi=120)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(toks)), labels=toks, rotation=30, ha="right")
    ax.set_yticks(range(len(langs)), labels=[DISPLAY_NAMES.get(lang, lang) for lang in langs])
    for i in range(len(langs)):
        for j in range(len(toks)):
            v = values[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{100 * v:.0f}%", ha="center", va="center", fontsize=8,
                        color="white" if v < 0.6 else "black")
    ax.set_title(title or f"Keywords that are one token ({form} form)", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    save_args: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "Tight layout not applied", UserWarning)
        try:
            fig.tight_layout()
        except UserWarning:  # labels too long for the figure (tokenizer paths): let savefig grow the canvas
            save_args["bbox_inches"] = "tight"
    target = Path(path)
    with io.atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", **save_args)
    return target
