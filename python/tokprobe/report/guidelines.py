"""Guidelines derived from a study's measurements, each stated with its numbers."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .plots import wilson

KL_THRESHOLDS = (0.01, 0.05, 0.1)  # nats/token: near-lossless, small, noticeable


def conservative_kl(row: pd.Series) -> float:
    """The KL a threshold pick is judged by: the upper end of its 95 % interval (files resampled), of
    the upper end of the KL bracket in cache-topk mode; the mean itself for results without intervals."""
    for name in ("kl_upper_mean_hi", "kl_mean_hi"):
        v = row.get(name, math.nan)
        if v is not None and not pd.isna(v):
            return float(v)
    return float(row["kl_mean"])


def kl_text(row: pd.Series) -> str:
    """``KL 0.0123 [0.0101, 0.0150]`` with its 95 % interval when there is one, else ``± err``."""
    lo, hi = row.get("kl_mean_lo", math.nan), row.get("kl_mean_hi", math.nan)
    if lo is not None and hi is not None and not (pd.isna(lo) or pd.isna(hi)):
        return f"KL {row['kl_mean']:.4g} [{lo:.4g}, {hi:.4g}]"
    return f"KL {row['kl_mean']:.4g} ± {row['kl_err']:.2g}"


def size_guidelines(variants: pd.DataFrame, passk: pd.DataFrame | None, reference: str) -> list[str]:
    """``variants``: model, label, file_size, bits_per_weight, kl_mean, kl_err and, where compare
    gave them, the interval columns (one group). A variant qualifies for a threshold when the
    conservative end of its KL (:func:`conservative_kl`) is under it."""
    out: list[str] = []
    d = variants.sort_values("file_size").copy()  # one block: the caller added columns one by one
    d = d.assign(kl_pick=[conservative_kl(r) for _, r in d.iterrows()]) if len(d) else d.assign(kl_pick=[])
    with_ci = "kl_mean_hi" in d.columns
    ref_ci = None
    rates: pd.DataFrame | None = None  # pass@1 per model, when the reference's is known
    if passk is not None and len(passk):
        r = passk[passk["model"] == reference]
        if len(r):
            ref_ci = wilson(int(r["n_passed"].iloc[0]), int(r["n_problems"].iloc[0]))
            rates = passk[["model", "pass_at_k"]]
    picks: list[tuple[float, pd.Series | None]] = []
    for thr in KL_THRESHOLDS:
        ok = d[d["kl_pick"] < thr]
        if ref_ci is not None and rates is not None:
            ok = ok.merge(rates, on="model", how="left")
            ok = ok[(ok["pass_at_k"] >= ref_ci[0] - 1e-12) | ok["pass_at_k"].isna()]
        picks.append((thr, ok.iloc[0] if len(ok) else None))
    if all(best is None for _, best in picks):  # one line, at the loosest threshold
        picks = picks[-1:]
    what = "the upper end of mean KL's 95% interval" if with_ci else "mean KL"
    for i, (thr, best) in enumerate(picks):
        prev = picks[i - 1][1] if i else None
        if best is not None and prev is not None and best["model"] == prev["model"]:
            continue  # the same answer as the tighter threshold: said once
        if best is None:
            out.append(f"No variant stays under {what} {thr:g} nats/token"
                       + (" with pass@1 inside the reference's interval." if ref_ci is not None else "."))
            continue
        looser = [t for t, b in picks[i + 1:] if b is not None and b["model"] == best["model"]]
        bound = f"{thr:g}" + (f" (and {', '.join(f'{t:g}' for t in looser)})" if looser else "")
        text = (f"Smallest variant with {what} < {bound} nats/token: `{best['label']}` "
                f"({best['file_size'] / 2**20:.0f} MiB, {best['bits_per_weight']:.2f} bits/weight, "
                f"{kl_text(best)})")
        if ref_ci is not None and not pd.isna(best.get("pass_at_k", math.nan)):
            text += (f", pass@1 {best['pass_at_k']:.3f} within the reference's 95% interval "
                     f"[{ref_ci[0]:.3f}, {ref_ci[1]:.3f}]")
        out.append(text + ".")
    return out


def _usable(by_group: pd.DataFrame, category: str) -> tuple[pd.DataFrame, list[str]]:
    """The rows with enough data, and the ``category`` values that are too few (never ranked)."""
    if "too_few" not in by_group.columns:
        return by_group, []
    few = by_group["too_few"].astype(bool)
    return by_group[~few], sorted({str(c) for c in by_group[few][category].tolist()})


def class_guidelines(by_class: pd.DataFrame) -> list[str]:
    """Which source class degrades most, per variant, stated only when its KL interval lies above
    every other class's (files resampled); groups under the minimum size are named as too few."""
    if by_class is None or not len(by_class):
        return []
    if "kl_mean_lo" not in by_class.columns:
        return _class_guidelines_without_intervals(by_class)
    out: list[str] = []
    usable, few = _usable(by_class, "class")
    for variant, g in usable.groupby("variant", sort=False):
        if len(g) < 2:
            continue
        g = g.reset_index(drop=True)
        i_top = int(g["kl_mean"].to_numpy().argmax())
        top, others = g.iloc[i_top], g.drop(index=i_top)
        if float(top["kl_mean_lo"]) > float(others["kl_mean_hi"].max()):
            out.append(f"`{variant}`: `{top['class']}` tokens lose most (KL {top['kl_mean']:.4g} "
                       f"[{top['kl_mean_lo']:.4g}, {top['kl_mean_hi']:.4g}], n = {int(top['n_tokens'])} tokens in "
                       f"{int(top['n_files'])} files), above every other class's interval.")
        else:
            out.append(f"`{variant}`: no class is detectably more fragile than the others "
                       f"(intervals overlap; n = {int(g['n_tokens'].sum())} tokens).")
    if few:
        out.append("Too few tokens or files to rank: " + ", ".join(f"`{c}`" for c in few) + ".")
    return out


def _class_guidelines_without_intervals(by_class: pd.DataFrame) -> list[str]:
    """Results stored before compare gave intervals: the ratios, said as measured (not as findings)."""
    d = by_class.copy()
    totals = {v: (g["kl_mean"] * g["n_tokens"]).sum() / g["n_tokens"].sum() for v, g in d.groupby("variant")}
    d["ratio"] = d["kl_mean"] / d["variant"].map(totals)
    rank = d.groupby("class")["ratio"].mean().sort_values(ascending=False)
    order = ", ".join(f"`{c}` ({r:.2f}x)" for c, r in rank.items())
    return [f"Token classes by KL relative to each variant's mean (averaged over variants; these results "
            f"have no intervals, so this is not a ranking): {order}."]


def coldstart_guidelines(summary: pd.DataFrame) -> list[str]:
    """Flag cold-start shifts of the kind the paper reports (STP jump, PKP collapse at low bits), in
    either direction: a ratio to the reference of 1.5x or more, or 0.67x or less."""
    if summary is None or len(summary) < 2:
        return []
    ref = summary.iloc[0]
    out = []
    for r in summary.iloc[1:].itertuples():
        notes = []
        for name in ("stp", "pkp"):
            base, val = ref[name], getattr(r, name)
            if base > 0 and not (0.67 < val / base < 1.5):
                notes.append(f"{name.upper()} {base:.3f} → {val:.3f} ({val / base:.2f}x)")
        if notes:
            out.append(f"`{r.model}` moves cold-start mass: " + ", ".join(notes) + ".")
    if not out:
        out.append(f"Cold start: every variant keeps PKP and STP within the band of the reference "
                   f"(`{ref['model']}`: PKP {ref['pkp']:.3f}, STP {ref['stp']:.3f}).")
    return out



def codegen_gate_lines(gate: dict[str, Any]) -> list[tuple[int, str]]:
    """(group index, sentence) for each group whose variants the HumanEval gate kept from running.

    ``gate`` is the codegen step's ``gate.json``: ``min_reference_passes`` and one record per group
    (``reference`` as it is to be shown, ``n_passed``, ``n_problems``, ``variants_run``).
    """
    need = gate.get("min_reference_passes", 0)
    out = []
    for i, r in enumerate(gate.get("groups") or []):
        if r.get("variants_run", True):
            continue
        out.append((i, f"HumanEval cannot separate these variants: the reference `{r['reference']}` passes "
                       f"{r['n_passed']}/{r['n_problems']}; with fewer than {need} passes the benchmark cannot tell "
                       "variants apart at this model size, so they were not run "
                       "(`tokprobe study --full-humaneval` runs them)."))
    return out
