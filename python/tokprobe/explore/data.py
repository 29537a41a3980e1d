"""The explorer's data: every scored token of a compare run, compact, with what each variant did to it.

Read from a run directory only (no model is loaded): a compare result directory (``tokens.parquet``,
``summary.csv``, ``provenance.json``) or a study run directory (each ``steps/compare/group*/``). Per
group, the tokens are listed once, in file and position order (text, class, line, and whether a gap of
unscored tokens precedes them); per variant, one array per statistic aligned with that list. Numbers
are rounded to 4 significant digits and strings are interned in one table, so the page stays small
(the default study's is a few MB). Top-5 lists are included where compare recorded them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import io
from ..errors import InputError

LN2 = math.log(2.0)
#: (key, label) of the statistics a token can be tinted by.
STATISTICS = (
    ("kl", "KL(ref ‖ variant), nats"),
    ("kl_reverse", "reverse KL(variant ‖ ref), nats"),
    ("dp", "Δp of the true token"),
    ("dsurprisal", "surprisal difference of the true token, bits (variant − ref)"),
)
N_RANKED = 200  # most divergent tokens listed per variant and statistic
TOP_COLUMNS = ("top5_ref_text", "top5_ref_p", "top5_var_text", "top5_var_p")  # compare's tokens frame


def compare_dirs(run_dir: str | Path) -> list[Path]:
    """The compare result directories of ``run_dir`` (itself, or a study's ``steps/compare/group*``)."""
    d = Path(run_dir)
    if not d.is_dir():
        raise InputError(f"run directory not found: {d}")
    if (d / "tokens.parquet").is_file():
        return [d]
    groups = sorted((d / "steps" / "compare").glob("group*"), key=lambda p: int(p.name[5:] or 0))
    found = [g for g in groups if (g / "tokens.parquet").is_file()]
    if not found:
        raise InputError(f"{d}: no compare results (tokens.parquet) here or under steps/compare/; "
                         "run 'tokprobe compare' or 'tokprobe study' first")
    return found


def _round(x: Any) -> list[float | None]:
    """4 significant digits; NaN/inf as null (JSON has neither)."""
    a = np.asarray(x, dtype=np.float64)
    out: list[float | None] = []
    for v in a.tolist():
        out.append(float(f"{v:.4g}") if math.isfinite(v) else None)
    return out


class _Strings:
    """Interned strings: each distinct text stored once, referred to by index."""

    def __init__(self) -> None:
        self.table: list[str] = []
        self._index: dict[str, int] = {}

    def ids(self, texts: Any) -> list[int]:
        out = []
        for t in texts:
            s = "" if t is None or (isinstance(t, float) and math.isnan(t)) else str(t)
            i = self._index.get(s)
            if i is None:
                i = self._index[s] = len(self.table)
                self.table.append(s)
            out.append(i)
        return out


def _ordered_tokens(tokens: pd.DataFrame, first: str) -> pd.DataFrame:
    base = tokens[tokens["variant"] == first]
    order = {f: i for i, f in enumerate(dict.fromkeys(base["file"].tolist()))}
    return base.assign(_f=base["file"].map(order)).sort_values(["_f", "position"]).reset_index(drop=True)


def _files(base: pd.DataFrame) -> tuple[list[dict[str, Any]], list[int]]:
    """Each file's slice of the token list, and per token whether unscored tokens precede it."""
    files: list[dict[str, Any]] = []
    gaps = [0] * len(base)
    pos = base["position"].to_numpy()
    for _, g in base.groupby("_f", sort=True):
        idx = g.index.to_numpy()
        start, n = int(idx[0]), len(idx)
        files.append({"path": str(g["file"].iloc[0]), "language": str(g["language"].iloc[0]),
                      "start": start, "n": n})
        for k in range(start + 1, start + n):
            gaps[k] = int(pos[k] != pos[k - 1] + 1)
        gaps[start] = int(g["byte_start"].iloc[0] > 0)
    return files, gaps


def _variant_values(tokens: pd.DataFrame, variant: str, positions: np.ndarray, strings: _Strings) -> dict[str, Any]:
    v = tokens[tokens["variant"] == variant].set_index("position").reindex(positions)
    values: dict[str, Any] = {
        "kl": _round(v["kl"]), "kl_reverse": _round(v["kl_reverse"]), "dp": _round(v["dp"]),
        "dsurprisal": _round((v["logp_ref"] - v["logp_var"]) / LN2),
        "p_ref": _round(v["p_ref"]), "p_var": _round(v["p_var"]),
        "top1_ref": strings.ids(v["argmax_ref_text"]), "top1_var": strings.ids(v["argmax_var_text"]),
        "same_top1": [int(a == b) for a, b in zip(v["argmax_ref"], v["argmax_var"], strict=True)],
    }
    ranked: dict[str, list[int]] = {}
    for key, _ in STATISTICS:
        x = np.asarray(v["dp"] if key == "dp" else values[key], dtype=np.float64)
        score = -x if key == "dp" else x  # Δp: the largest losses of the true token first
        score = np.where(np.isfinite(score), score, -np.inf)
        ranked[key] = [int(i) for i in np.argsort(-score, kind="stable")[:N_RANKED]]
    values["ranked"] = ranked
    if all(c in v.columns for c in TOP_COLUMNS):
        values["top_var"] = [[strings.ids(t), _round(p)] for t, p in zip(v["top5_var_text"], v["top5_var_p"],
                                                                         strict=True)]
    return values


def group_data(d: Path, name: str) -> dict[str, Any]:
    """Everything the page shows of one compare result directory ``d``."""
    tokens = io.read_frame(d / "tokens.parquet")
    if tokens.empty:
        raise InputError(f"{d}: tokens.parquet has no rows")
    variants = list(dict.fromkeys(tokens["variant"].tolist()))
    summary = io.read_frame(d / "summary.csv") if (d / "summary.csv").is_file() else pd.DataFrame()
    reference = str(summary["reference"].iloc[0]) if "reference" in summary.columns and len(summary) else "reference"
    strings = _Strings()
    base = _ordered_tokens(tokens, variants[0])
    files, gaps = _files(base)
    positions = base["position"].to_numpy()
    classes = list(dict.fromkeys(base["class"].astype(str).tolist()))
    cls_index = {c: i for i, c in enumerate(classes)}
    group: dict[str, Any] = {
        "name": name, "reference": reference, "variants": variants, "classes": classes,
        "languages": list(dict.fromkeys(f["language"] for f in files)), "files": files,
        "text": strings.ids(base["text"]), "cls": [cls_index[str(c)] for c in base["class"]],
        "line": [int(x) for x in base["line"]], "gap": gaps,
        "values": {v: _variant_values(tokens, v, positions, strings) for v in variants},
    }
    if all(c in base.columns for c in TOP_COLUMNS):
        group["top_ref"] = [[strings.ids(t), _round(p)] for t, p in zip(base["top5_ref_text"], base["top5_ref_p"],
                                                                        strict=True)]
    group["strings"] = strings.table
    group["summary"] = _summary_rows(summary)
    return group


def _probe_rows(probes: pd.DataFrame, group: dict[str, Any]) -> list[dict[str, Any]]:
    """Completion probes placed on the first shown token of their line: the truth and each model's
    completion with its exact match (probes on lines the compare run did not score are left out)."""
    first_token: dict[tuple[str, int], int] = {}
    for f in group["files"]:
        for i in range(f["start"], f["start"] + f["n"]):
            first_token.setdefault((f["path"], group["line"][i]), i)
    out: list[dict[str, Any]] = []
    for (path, _), g in probes.groupby(["file", "probe"], sort=False):
        line = int(g["line"].iloc[0])
        at = first_token.get((str(path), line))
        if at is None:
            continue
        out.append({"i": at, "line": line, "truth": str(g["truth"].iloc[0]),
                    "models": {str(r["model"]): [str(r["completion"]), int(bool(r["exact"]))]
                               for r in g.to_dict(orient="records")}})
    return out


def add_probes(group: dict[str, Any], probes_file: Path) -> None:
    """The completion step's probes of this group (``steps/complete/groupN/probes.parquet``), if any."""
    if not probes_file.is_file():
        return
    probes = io.read_frame(probes_file)
    if {"file", "probe", "line", "truth", "model", "completion", "exact"} <= set(probes.columns) and len(probes):
        group["probes"] = _probe_rows(probes, group)


def _summary_rows(summary: pd.DataFrame) -> list[dict[str, Any]]:
    cols = [c for c in ("variant", "n_tokens", "n_files", "kl_mean", "kl_mean_lo", "kl_mean_hi", "same_top1",
                        "same_top1_lo", "same_top1_hi") if c in summary.columns]
    rows: list[dict[str, Any]] = []
    for r in summary[cols].to_dict(orient="records"):
        rows.append({str(k): (float(f"{v:.4g}") if isinstance(v, float) and math.isfinite(v) else v)
                     for k, v in r.items()})
    return rows


def _group_names(run_dir: Path, dirs: list[Path]) -> list[str]:
    """A study's group names from its ``config.json``; else the directory names."""
    cfg = run_dir / "config.json"
    groups = (io.read_json(cfg).get("groups") or []) if cfg.is_file() else []
    out = []
    for d in dirs:
        i = int(d.name[5:]) if d.name.startswith("group") and d.name[5:].isdigit() else -1
        out.append(str(groups[i].get("name", d.name)) if 0 <= i < len(groups) else d.name)
    return out


def explorer_data(run_dir: str | Path) -> dict[str, Any]:
    """The page's data for every compare group of ``run_dir``."""
    dirs = compare_dirs(run_dir)
    names = _group_names(Path(run_dir), dirs)
    groups = []
    for d, label in zip(dirs, names, strict=True):
        g = group_data(d, label)
        add_probes(g, Path(run_dir) / "steps" / "complete" / d.name / "probes.parquet")
        groups.append(g)
    return {"statistics": [list(s) for s in STATISTICS], "groups": groups}
