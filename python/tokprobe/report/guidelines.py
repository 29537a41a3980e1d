"""Guidelines derived from a study's measurements, each stated with its numbers."""

from __future__ import annotations

import math

import pandas as pd

from .plots import wilson

KL_THRESHOLDS = (0.01, 0.05, 0.1)  # nats/token: near-lossless, small, noticeable


def size_guidelines(variants: pd.DataFrame, passk: pd.DataFrame | None, reference: str) -> list[str]:
    """``variants``: model, label, file_size, bits_per_weight, kl_mean, kl_err (one group)."""
    out: list[str] = []
    d = variants.sort_values("file_size")
    ref_ci = None
    rates: pd.DataFrame | None = None  # pass@1 per model, when the reference's is known
    if passk is not None and len(passk):
        r = passk[passk["model"] == reference]
        if len(r):
            ref_ci = wilson(int(r["n_passed"].iloc[0]), int(r["n_problems"].iloc[0]))
            rates = passk[["model", "pass_at_k"]]
    picks: list[tuple[float, pd.Series | None]] = []
    for thr in KL_THRESHOLDS:
        ok = d[d["kl_mean"] < thr]
        if ref_ci is not None and rates is not None:
            ok = ok.merge(rates, on="model", how="left")
            ok = ok[(ok["pass_at_k"] >= ref_ci[0] - 1e-12) | ok["pass_at_k"].isna()]
        picks.append((thr, ok.iloc[0] if len(ok) else None))
    if all(best is None for _, best in picks):  # one line, at the loosest threshold
        picks = picks[-1:]
    for i, (thr, best) in enumerate(picks):
        prev = picks[i - 1][1] if i else None
        if best is not None and prev is not None and best["model"] == prev["model"]:
            continue  # the same answer as the tighter threshold: said once
        if best is None:
            out.append(f"No variant stays under mean KL {thr:g} nats/token"
                       + (" with pass@1 inside the reference's interval." if ref_ci is not None else "."))
            continue
        looser = [t for t, b in picks[i + 1:] if b is not None and b["model"] == best["model"]]
        bound = f"{thr:g}" + (f" (and {', '.join(f'{t:g}' for t in looser)})" if looser else "")
        text = (f"Smallest variant with mean KL < {bound} nats/token: `{best['label']}` "
                f"({best['file_size'] / 2**20:.0f} MiB, {best['bits_per_weight']:.2f} bits/weight, "
                f"KL {best['kl_mean']:.4g} ± {best['kl_err']:.2g})")
        if ref_ci is not None and not pd.isna(best.get("pass_at_k", math.nan)):
            text += (f", pass@1 {best['pass_at_k']:.3f} within the reference's 95% interval "
                     f"[{ref_ci[0]:.3f}, {ref_ci[1]:.3f}]")
        out.append(text + ".")
    return out


def class_guidelines(by_class: pd.DataFrame) -> list[str]:
    """Which source classes degrade first: KL per class relative to the variant's overall mean."""
    if by_class is None or not len(by_class):
        return []
    d = by_class.copy()
    totals = {v: (g["kl_mean"] * g["n_tokens"]).sum() / g["n_tokens"].sum() for v, g in d.groupby("variant")}
    d["ratio"] = d["kl_mean"] / d["variant"].map(totals)
    rank = d.groupby("class")["ratio"].mean().sort_values(ascending=False)
    order = ", ".join(f"`{c}` ({r:.2f}x)" for c, r in rank.items())
    out = [f"Token classes by KL relative to each variant's mean (averaged over variants), most fragile first: "
           f"{order}."]
    worst = d.loc[d.groupby("variant")["kl_mean"].idxmax()]
    out.append("Class with the highest mean KL per variant: "
               + "; ".join(f"`{r['variant']}`: {r['class']} ({r['kl_mean']:.4f})" for _, r in worst.iterrows())
               + ".")
    return out


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
