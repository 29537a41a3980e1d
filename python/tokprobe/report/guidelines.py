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
    """Which source class degrades most, per variant (see :func:`group_guidelines`)."""
    if by_class is not None and len(by_class) and "kl_mean_lo" not in by_class.columns:
        return _class_guidelines_without_intervals(by_class)
    return group_guidelines(by_class, "class", "class", "tokens")


def group_guidelines(by_group: pd.DataFrame, category: str, noun: str, unit: str = "") -> list[str]:
    """Which ``category`` value (a token class, a language) degrades most, per variant, stated only
    when its KL interval lies above every other group's (files resampled); groups under the minimum
    size are named as too few and never ranked. Results without intervals give no ranking."""
    if by_group is None or not len(by_group) or "kl_mean_lo" not in by_group.columns:
        return []
    out: list[str] = []
    usable, few = _usable(by_group, category)
    what = f" {unit}" if unit else ""
    none: list[tuple[str, int, int]] = []  # variants without a finding: said in one line
    for variant, g in usable.groupby("variant", sort=False):
        if len(g) < 2:
            continue
        g = g.reset_index(drop=True)
        i_top = int(g["kl_mean"].to_numpy().argmax())
        top, others = g.iloc[i_top], g.drop(index=i_top)
        if float(top["kl_mean_lo"]) > float(others["kl_mean_hi"].max()):
            out.append(f"`{variant}`: `{top[category]}`{what} lose most (KL {top['kl_mean']:.4g} "
                       f"[{top['kl_mean_lo']:.4g}, {top['kl_mean_hi']:.4g}], n = {int(top['n_tokens'])} tokens in "
                       f"{int(top['n_files'])} files), above every other {noun}'s interval.")
        else:
            none.append((str(variant), int(g["n_tokens"].sum()), len(g)))
    if len(none) == 1:
        v, n, k = none[0]
        out.append(f"`{v}`: no {noun} is detectably more fragile than the others "
                   f"(intervals overlap; n = {n} tokens in {k} {noun} groups).")
    elif none:
        names = ", ".join(f"`{v}`" for v, _, _ in none)
        out.append(f"{names}: for each, no {noun} is detectably more fragile than the others (intervals overlap; "
                   f"n = {none[0][1]} tokens in {none[0][2]} {noun} groups each).")
    if few:
        out.append(f"Too few tokens or files to rank ({noun}): " + ", ".join(f"`{c}`" for c in few) + ".")
    return out


def ordering_guidelines(variants: pd.DataFrame, pairwise: pd.DataFrame | None, reference: str) -> list[str]:
    """For each step down the ladder (variants by file size, largest first), whether the smaller
    variant is further from the reference: stated only when the paired 95 % interval of the KL
    difference (same tokens, files resampled) excludes 0, else "no detectable difference"."""
    if pairwise is None or not len(pairwise) or "diff_lo" not in pairwise.columns or len(variants) < 2:
        return []
    d = variants.dropna(subset=["file_size"]).sort_values("file_size", ascending=False)
    labels = [str(x) for x in d["label"]]
    pairs: dict[tuple[str, str], dict[Any, Any]] = {
        (str(r["variant_a"]), str(r["variant_b"])): dict(r) for r in pairwise.to_dict(orient="records")}
    out: list[str] = []
    for big, small in zip(labels, labels[1:], strict=False):
        r, sign = (pairs[(small, big)], 1.0) if (small, big) in pairs else (pairs.get((big, small)), -1.0)
        if r is None:
            continue
        diff = sign * float(r["diff"])
        lo, hi = sorted((sign * float(r["diff_lo"]), sign * float(r["diff_hi"])))
        span = (f"ΔKL {diff:+.4g} [{lo:+.4g}, {hi:+.4g}] nats/token, n = {int(r['n_tokens'])} tokens in "
                f"{int(r['n_files'])} files")
        if lo > 0:
            out.append(f"`{small}` is further from `{reference}` than the larger `{big}` ({span}).")
        elif hi < 0:
            out.append(f"`{small}` is *closer* to `{reference}` than the larger `{big}` ({span}).")
        else:
            out.append(f"No detectable difference between `{big}` and `{small}` ({span}).")
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


BAND = (0.67, 1.5)  # a cold-start ratio to the reference outside this band is a material shift


def coldstart_guidelines(summary: pd.DataFrame, pairwise: pd.DataFrame | None = None) -> list[str]:
    """Cold-start shifts of the kind the paper reports (STP jump, PKP collapse at low bits), either way:
    a ratio to the reference outside 0.67x-1.5x. PKP's shift is a finding only when its whole 95 %
    interval (keyword set resampled, paired) lies outside the band; STP is a mass at one position with
    no sampling unit, so its shift is given as a measurement, not as a finding."""
    if summary is None or len(summary) < 2:
        return []
    ref = summary.iloc[0]
    ratios = {} if pairwise is None or "pkp_ratio_lo" not in pairwise.columns else {
        str(r["model"]): r for r in pairwise.to_dict(orient="records")}
    out = []
    for r in summary.iloc[1:].to_dict(orient="records"):
        found, measured = [], []
        pr = ratios.get(str(r["model"]))
        if pr is not None and not pd.isna(pr["pkp_ratio_lo"]):
            lo, hi = float(pr["pkp_ratio_lo"]), float(pr["pkp_ratio_hi"])
            if hi < BAND[0] or lo > BAND[1]:
                found.append(f"PKP {ref['pkp']:.3f} → {r['pkp']:.3f} ({pr['pkp_ratio']:.2f}x [{lo:.2f}, {hi:.2f}], "
                             f"keyword set resampled)")
        elif ref["pkp"] > 0 and not BAND[0] < r["pkp"] / ref["pkp"] < BAND[1]:
            measured.append(f"PKP {ref['pkp']:.3f} → {r['pkp']:.3f} ({r['pkp'] / ref['pkp']:.2f}x)")
        if ref["stp"] > 0 and not BAND[0] < r["stp"] / ref["stp"] < BAND[1]:
            measured.append(f"STP {ref['stp']:.3f} → {r['stp']:.3f} ({r['stp'] / ref['stp']:.2f}x)")
        if found:
            out.append(f"`{r['model']}` moves cold-start keyword mass: " + ", ".join(found) + ".")
        if measured:
            out.append(f"`{r['model']}` at the cold-start position, measured (one position, no interval, not a "
                       f"tested finding): " + ", ".join(measured) + ".")
    if not out:
        out.append(f"Cold start: no variant moves PKP (95 % interval) or STP outside {BAND[0]:g}x-{BAND[1]:g}x of "
                   f"the reference (`{ref['model']}`: PKP {ref['pkp']:.3f}, STP {ref['stp']:.3f}).")
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
