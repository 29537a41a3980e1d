"""Flips between a reference model and a variant (e.g. a quantized or distilled copy).

A problem *flips* when its outcome differs between the two: ``pass->fail`` (the variant lost
it) or ``fail->pass`` (the variant gained it). With one greedy sample per problem the outcome
is that sample's pass/fail; with ``n`` samples a problem counts as solved when its pass rate
``c / n`` is at least ``threshold`` (default 0.5), and ``delta_pass_rate`` keeps the graded
difference.

Divergence on the reference's code
----------------------------------
To tie flips to token-level divergence, :func:`attach_divergence` teacher-forces the
*reference's generated code* (prompt + the reference's completion) through the variant and
the reference and records per-problem divergence statistics. tokprobe.codegen does not
compute divergences itself: it calls a :class:`DivergenceFn` - e.g. a thin wrapper over
``tokprobe.compare`` - with keyword arguments ``task_id``, ``prompt`` and ``completion``;
it returns a mapping of metric name to number (e.g. ``{"mean_kl": ..., "max_kl": ...,
"top1_agreement": ...}``), one column each (prefixed ``div_``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import pandas as pd

from ..errors import InputError
from .problems import Problem

FLIP_KINDS = ("pass->pass", "pass->fail", "fail->pass", "fail->fail")


class DivergenceFn(Protocol):
    def __call__(self, *, task_id: str, prompt: str, completion: str) -> Mapping[str, float]: ...


def flips(
    reference: pd.DataFrame,
    variant: pd.DataFrame,
    *,
    threshold: float = 0.5,
    reference_name: str = "reference",
    variant_name: str = "variant",
) -> pd.DataFrame:
    """Per-problem comparison of two ``problems`` tables (:attr:`CodegenResult.problems`).

    Only problems present in both are compared. Columns: task_id, ref_c, ref_n, var_c, var_n,
    ref_pass_rate, var_pass_rate, delta_pass_rate, ref_solved, var_solved, flip, ref_kind,
    var_kind, var_error_type.
    """
    if not 0 < threshold <= 1:
        raise InputError(f"flip threshold must be in (0, 1], got {threshold}")
    need = {"task_id", "n", "c"}
    for name, df in ((reference_name, reference), (variant_name, variant)):
        missing = need - set(df.columns)
        if missing:
            raise InputError(f"{name} problems table lacks column(s) {', '.join(sorted(missing))}")
    ref = reference.set_index("task_id")
    var = variant.set_index("task_id")
    common = [t for t in reference["task_id"] if t in var.index]
    if not common:
        raise InputError(f"{reference_name} and {variant_name} have no problem in common")
    rows = []
    for t in common:
        r, v = ref.loc[t], var.loc[t]
        rr, vr = float(r["c"]) / float(r["n"]), float(v["c"]) / float(v["n"])
        rs, vs = rr >= threshold, vr >= threshold
        rows.append(
            {
                "task_id": t,
                "reference": reference_name,
                "variant": variant_name,
                "ref_c": int(r["c"]),
                "ref_n": int(r["n"]),
                "var_c": int(v["c"]),
                "var_n": int(v["n"]),
                "ref_pass_rate": rr,
                "var_pass_rate": vr,
                "delta_pass_rate": vr - rr,
                "ref_solved": rs,
                "var_solved": vs,
                "flip": f"{'pass' if rs else 'fail'}->{'pass' if vs else 'fail'}",
                "ref_kind": r.get("kind"),
                "var_kind": v.get("kind"),
                "var_error_type": v.get("error_type"),
            }
        )
    return pd.DataFrame(rows)


def flip_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Counts per variant: pass->pass, pass->fail, fail->pass, fail->fail, net (gained - lost)."""
    out = []
    for (ref_name, var_name), g in table.groupby(["reference", "variant"], sort=False):
        counts = g["flip"].value_counts()
        row: dict[str, Any] = {"reference": ref_name, "variant": var_name, "n_problems": int(len(g))}
        for k in FLIP_KINDS:
            row[k] = int(counts.get(k, 0))
        row["flips"] = row["pass->fail"] + row["fail->pass"]
        row["net"] = row["fail->pass"] - row["pass->fail"]
        row["mean_delta_pass_rate"] = float(g["delta_pass_rate"].mean())
        out.append(row)
    return pd.DataFrame(out)


def attach_divergence(
    table: pd.DataFrame,
    reference_samples: pd.DataFrame,
    problems: Sequence[Problem],
    divergence: DivergenceFn | Callable[..., Mapping[str, float]],
    *,
    sample: int = 0,
    only_flips: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Add ``div_<metric>`` columns: ``divergence(task_id=, prompt=, completion=)`` evaluated on
    the reference's generated completion (sample ``sample``) of each problem in ``table``."""
    by_id = {p.task_id: p for p in problems}
    ref = reference_samples[reference_samples["sample"] == sample].set_index("task_id")
    rows = table if not only_flips else table[table["flip"].isin(["pass->fail", "fail->pass"])]
    metrics: dict[str, dict[str, float]] = {}
    total = len(rows)
    for i, t in enumerate(rows["task_id"]):
        if t not in ref.index or t not in by_id:
            continue
        out = divergence(task_id=t, prompt=by_id[t].prompt, completion=str(ref.loc[t, "completion"]))
        metrics[t] = {f"div_{k}": float(v) for k, v in dict(out).items()}
        if progress:
            progress(i + 1, total)
    if not metrics:
        return table.copy()
    div = pd.DataFrame.from_dict(metrics, orient="index")
    div.index.name = "task_id"
    return table.merge(div, left_on="task_id", right_index=True, how="left")
