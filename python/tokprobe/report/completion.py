"""The report's completion section and its guidelines (read from ``steps/complete/group*/``).

A variant is said to lose completion quality only where the paired 95 % interval of its
difference to the reference (files resampled) lies below 0; otherwise the report says that no
difference was detected, with the number of probes. Groups with too few probes are never used.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import io
from .document import Section
from .rundir import read_table

METRIC_NAMES = {"exact": "exact match", "edit_sim": "edit similarity", "valid": "validity"}


def _iv(row: pd.Series, m: str) -> str:
    return f"{row[f'd_{m}']:+.3f} [{row[f'd_{m}_lo']:+.3f}, {row[f'd_{m}_hi']:+.3f}]"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def completion_guidelines(paired: pd.DataFrame, reference: str) -> list[str]:
    """One line per variant (all languages), and the languages where it loses, from the paired table."""
    out: list[str] = []
    for model, g in paired.groupby("model", sort=False):
        tot = g[g["language"] == "all"]
        if not len(tot):
            continue
        r = tot.iloc[0]
        if bool(r.get("too_few", False)):
            out.append(f"Completion probes: {model} vs {reference}: too few probes to judge (n = {int(r['n'])}).")
            continue
        lost = [METRIC_NAMES[m] for m in METRIC_NAMES if r[f"d_{m}_hi"] < 0]
        gained = [METRIC_NAMES[m] for m in METRIC_NAMES if r[f"d_{m}_lo"] > 0]
        nums = "; ".join(f"{METRIC_NAMES[m]} {_iv(r, m)}" for m in METRIC_NAMES)
        n = f"n = {int(r['n'])} probes in {int(r['n_files'])} files"
        if lost:
            langs = g[(g["language"] != "all") & (g["d_exact_hi"] < 0) & ~g["too_few"].astype(bool)]["language"]
            where = f"; exact match lower in {', '.join(langs)}" if len(langs) else ""
            out.append(f"Completion probes: {model} loses {_join(lost)} against {reference} "
                       f"({nums}; {n}){where}.")
        elif gained:
            out.append(f"Completion probes: {model} scores higher than {reference} in {_join(gained)} "
                       f"({nums}; {n}).")
        else:
            out.append(f"Completion probes: no detectable difference between {model} and {reference} ({nums}; {n}).")
    return out


def completion_section(gdir: Path, title: str) -> tuple[Section, list[str]] | None:
    """The section of one group's completion run and its guidelines (None when the step left nothing)."""
    summary = read_table(gdir / "summary.csv")
    if summary is None or not len(summary):
        return None
    names = io.read_json(gdir / "models.json") if (gdir / "models.json").is_file() else {}
    reference = str(names.get("reference", summary["model"].iloc[0]))
    sec = Section(f"Completion probes ({title})", text=[
        "Greedy completions of real code at sampled line starts, from the preceding code of the file: exact "
        "match (whitespace-normalised), edit similarity and syntactic validity (tree-sitter errors no more "
        "than in the original file), with 95 % intervals that resample files. A variant is said to lose "
        "completion quality only where the paired 95 % interval of its difference to the reference excludes 0."])
    if (gdir / "complete.png").is_file():
        sec.images.append(("Exact match and validity per language and model", gdir / "complete.png"))
    meta = io.read_json(gdir / "complete.json") if (gdir / "complete.json").is_file() else {}
    sec.text += [f"Note: {n}" for n in meta.get("notes", [])]
    tot = summary[summary["language"] == "all"]
    cols = [c for c in ("model", "n", "n_files", "exact", "exact_lo", "exact_hi", "edit_sim", "edit_sim_lo",
                        "edit_sim_hi", "valid", "valid_lo", "valid_hi", "empty") if c in tot.columns]
    sec.tables.append(("All languages, per model", tot[cols]))
    paired = read_table(gdir / "paired.csv")
    bullets: list[str] = []
    if paired is not None and len(paired):
        pcols = [c for c in ("model", "n", "d_exact", "d_exact_lo", "d_exact_hi", "d_edit_sim", "d_edit_sim_lo",
                             "d_edit_sim_hi", "d_valid", "d_valid_lo", "d_valid_hi", "loses") if c in paired.columns]
        sec.tables.append((f"Per variant: difference to {reference} (paired, all languages)",
                           paired[paired["language"] == "all"][pcols]))
        bullets = completion_guidelines(paired, reference)
    flips = read_table(gdir / "flips.csv")
    if flips is not None and len(flips):
        sec.tables.append(("Exact-match flips against the reference, with the KL at the probe's first token",
                           flips[flips["language"] == "all"]))
    by_lang = summary[summary["language"] != "all"][["model", "language", "n", "exact", "edit_sim", "valid"]]
    sec.tables.append(("Per language", by_lang))
    return sec, bullets
