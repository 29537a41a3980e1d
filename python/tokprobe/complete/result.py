"""The result of a completion run: one row per (model, probe), and the tables built from it.

- ``probes``: every probe of every model (see :func:`tokprobe.complete.run._row` for the columns).
- :meth:`CompleteResult.summary`: per model and language (and ``all``): exact match, edit
  similarity and validity with 95 % intervals that resample files (:class:`tokprobe.bootstrap.FileBootstrap`).
- :meth:`CompleteResult.paired`: variant minus reference on the same probes, paired file bootstrap;
  ``loses`` is set only where the interval of the exact-match difference lies below 0.
- :meth:`CompleteResult.flips`: exact match right -> wrong (``lost``) and wrong -> right (``gained``)
  against the reference, with the divergence at the probe's first token of each kind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import io
from ..bootstrap import FileBootstrap, interval_columns
from .plot import plot_summary

METRICS = ("exact", "edit_sim", "valid")
MIN_PROBES = 10  # a group with fewer probes is flagged too_few
KEY = ["file", "probe"]


def _groups(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    langs = list(dict.fromkeys(df["language"].tolist()))
    return [("all", df)] + [(lang, df[df["language"] == lang]) for lang in langs]


@dataclass
class CompleteResult:
    probes: pd.DataFrame
    costs: pd.DataFrame
    models: list[str]
    provenance: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    n_boot: int = 1000
    seed: int = 0

    @classmethod
    def build(cls, rows: list[dict[str, Any]], costs: list[dict[str, Any]], models: list[str],
              prov: dict[str, Any], notes: list[str], *, n_boot: int = 1000, seed: int = 0) -> CompleteResult:
        return cls(pd.DataFrame(rows), pd.DataFrame(costs), models, prov, notes, n_boot, seed)

    @property
    def reference(self) -> str:
        return self.models[0]

    def _boot(self, files: pd.Series) -> FileBootstrap:
        return FileBootstrap(files.to_numpy(), n_boot=self.n_boot, seed=self.seed, min_tokens=MIN_PROBES,
                             min_files=2)

    def summary(self) -> pd.DataFrame:
        """Per model and language: n, files, and each metric's mean with its 95 % file-bootstrap interval."""
        out = []
        for model in self.models:
            sub = self.probes[self.probes["model"] == model]
            for lang, g in _groups(sub):
                if g.empty:
                    continue
                fb = self._boot(g["file"])
                row: dict[str, Any] = {"model": model, "language": lang, "n": len(g), "n_files": g["file"].nunique()}
                for m in METRICS:
                    iv = fb.mean(g[m].to_numpy(dtype=np.float64))
                    row[m] = iv.value
                    row.update(interval_columns(m, iv))
                    row["too_few"] = iv.too_few
                row["empty"] = float(g["empty"].mean())
                ast = g["ast_ok"].dropna() if "ast_ok" in g else g["empty"].iloc[:0]
                row["ast_ok"] = float(ast.mean()) if len(ast) else float("nan")  # Python's own parser, a cross-check
                row["n_generated"] = float(g["n_generated"].mean())
                out.append(row)
        return pd.DataFrame(out)

    def _pairs(self, model: str) -> pd.DataFrame:
        ref = self.probes[self.probes["model"] == self.reference]
        var = self.probes[self.probes["model"] == model]
        cols = [*KEY, "language", *METRICS]
        return var[cols + ["kl_first", "first_same"]].merge(ref[cols], on=[*KEY, "language"], suffixes=("", "_ref"))

    def paired(self) -> pd.DataFrame:
        """Variant minus reference per model and language, on the probes both have (paired file bootstrap)."""
        out = []
        for model in self.models[1:]:
            for lang, g in _groups(self._pairs(model)):
                if g.empty:
                    continue
                fb = self._boot(g["file"])
                row: dict[str, Any] = {"model": model, "language": lang, "n": len(g), "n_files": g["file"].nunique()}
                for m in METRICS:
                    iv = fb.paired(g[m].to_numpy(dtype=np.float64), g[f"{m}_ref"].to_numpy(dtype=np.float64))
                    row[f"d_{m}"] = iv.value
                    row.update(interval_columns(f"d_{m}", iv))
                row["too_few"] = iv.too_few  # a group with too few probes is never claimed to lose
                row["loses"] = bool(row["d_exact_hi"] < 0) and not iv.too_few
                row["loses_validity"] = bool(row["d_valid_hi"] < 0) and not iv.too_few
                out.append(row)
        return pd.DataFrame(out)

    def flips(self) -> pd.DataFrame:
        """Per variant and language: exact-match flips against the reference and the first-token divergence
        (mean KL and share of changed first tokens) of the lost, gained and unchanged probes."""
        out = []
        for model in self.models[1:]:
            for lang, g in _groups(self._pairs(model)):
                if g.empty:
                    continue
                lost = (g["exact_ref"] == 1) & (g["exact"] == 0)
                gained = (g["exact_ref"] == 0) & (g["exact"] == 1)
                kept = ~(lost | gained)
                row: dict[str, Any] = {"model": model, "language": lang, "n": len(g), "lost": int(lost.sum()),
                                       "gained": int(gained.sum()), "net": int(gained.sum() - lost.sum())}
                for name, mask in (("lost", lost), ("gained", gained), ("kept", kept)):
                    row[f"kl_first_{name}"] = float(g.loc[mask, "kl_first"].mean()) if mask.any() else np.nan
                    row[f"first_changed_{name}"] = float((~g.loc[mask, "first_same"].astype(bool)).mean()) \
                        if mask.any() else np.nan
                out.append(row)
        return pd.DataFrame(out)

    # -- files ----------------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str], *, plot: bool = False) -> Path:
        """Write the tables (and with ``plot`` the figure ``complete.png``) into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        io.write_frame(self.probes, d / "probes.parquet")
        io.write_frame(self.costs, d / "costs.csv")
        summary = self.summary()
        io.write_frame(summary, d / "summary.csv")
        if plot:
            plot_summary(summary, d / "complete.png")
        if len(self.models) > 1:
            io.write_frame(self.paired(), d / "paired.csv")
            io.write_frame(self.flips(), d / "flips.csv")
        io.write_json(d / "complete.json", {"models": self.models, "notes": self.notes, "n_boot": self.n_boot,
                                            "seed": self.seed, "provenance": self.provenance})
        return d

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> CompleteResult:
        d = Path(directory)
        meta = io.read_json(d / "complete.json")
        return cls(io.read_frame(d / "probes.parquet"), io.read_frame(d / "costs.csv"), list(meta["models"]),
                   meta["provenance"], list(meta.get("notes", [])), int(meta["n_boot"]), int(meta["seed"]))
