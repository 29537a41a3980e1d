"""The report's first screen: one row per model of each group, the numbers a reader decides on.

Size, mean KL and same top-1 against the group's reference (each with its 95 % interval, files
resampled), completion exact match where the completion step ran, and pass@1 where HumanEval ran the
variants (the gate keeps it out when the reference passes too few problems to separate anything).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .. import io
from .document import Section
from .rundir import group_dirs, read_table
from .tables import with_interval


def _ci(r: Any, col: str) -> str:
    if r is None or col not in r:
        return "–"
    return with_interval(r[col], r.get(f"{col}_lo"), r.get(f"{col}_hi"))


def _group_rows(g: Path, name: str, models: pd.DataFrame, complete_dir: Path,
                pass1: dict[str, float]) -> list[dict[str, Any]]:
    summary = read_table(g / "summary.csv")
    if summary is None or not len(summary):
        return []
    names = io.read_json(g / "models.json") if (g / "models.json").is_file() else {}
    ref = str(names.get("reference", summary["reference"].iloc[0]))
    variants = list(names.get("variants", summary["variant"].tolist()))
    comp = read_table(complete_dir / "summary.csv")
    comp_by = {} if comp is None or "language" not in comp.columns else {
        str(r["model"]): r for r in comp[comp["language"] == "all"].to_dict(orient="records")}
    size = models.drop_duplicates("model").set_index("model")
    rows = []
    for model, r in [(ref, None), *zip(variants, summary.to_dict(orient="records"), strict=False)]:
        row: dict[str, Any] = {"group": name, "model": model, "role": "reference" if r is None else "variant"}
        if model in size.index:
            row["MiB"] = round(float(size.loc[model, "file_size"]) / 2**20, 1)
            row["bits/weight"] = round(float(size.loc[model, "bits_per_weight"]), 2)
        row["KL [95%]"] = "0 (reference)" if r is None else _ci(r, "kl_mean")
        row["same top-1 [95%]"] = "1 (reference)" if r is None else _ci(r, "same_top1")
        if comp_by:
            c = comp_by.get(model) or comp_by.get(Path(model).stem)
            row["completion exact [95%]"] = _ci(c, "exact")
        if pass1:
            row["pass@1"] = pass1.get(model, "not run")
        rows.append(row)
    return rows


def summary_section(run: Path, config: dict[str, Any], models: pd.DataFrame,
                    p1: pd.DataFrame | None) -> Section | None:
    """The summary section, or None when no compare group left results."""
    groups = config.get("groups") or []
    pass1 = {} if p1 is None or not len(p1) else {str(m): round(float(v), 3)
                                                  for m, v in zip(p1["model"], p1["pass_at_k"], strict=True)}
    rows: list[dict[str, Any]] = []
    for g in group_dirs(run / "steps" / "compare"):
        i = int(g.name[5:] or 0)
        name = str(groups[i].get("name", g.name)) if i < len(groups) else g.name
        rows += _group_rows(g, name, models, run / "steps" / "complete" / g.name, pass1)
    if not rows:
        return None
    return Section("Summary", text=[
        "Each variant against its group's reference on code: mean KL (nats/token) and same top-1 with their 95 % "
        "intervals (files resampled); completion exact match where the completion step ran; pass@1 only where "
        "HumanEval could separate the models."], tables=[("", pd.DataFrame(rows))])
