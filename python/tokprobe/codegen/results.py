"""Result frames of a codegen run, and a finished run reloaded from its directory.

``samples``: one row per executed sample; ``problems``: one row per problem (n, c, pass@1,
outcome kinds, the first failure); ``pass_at_k``: one row per k.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import io
from ..errors import InputError
from .passk import default_ks, estimate
from .problems import Problem, load_problems
from .store import JsonlStore
from .verdict import KINDS


@dataclass
class CodegenResult:
    """One model's run. ``samples``: one row per (task, sample); ``problems``: one row per task;
    ``pass_at_k``: one row per k."""

    model: str
    run_dir: Path
    samples: pd.DataFrame
    problems: pd.DataFrame
    pass_at_k: pd.DataFrame
    provenance: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    def pass_at(self, k: int = 1) -> float:
        row = self.pass_at_k[self.pass_at_k["k"] == k]
        if row.empty:
            raise InputError(f"pass@{k} was not computed (n={int(self.problems['n'].min())})")
        return float(row["pass_at_k"].iloc[0])

    def summary(self) -> dict[str, Any]:
        kinds = self.samples["kind"].value_counts().to_dict() if not self.samples.empty else {}
        ks = zip(self.pass_at_k["k"].tolist(), self.pass_at_k["pass_at_k"].tolist(), strict=True)
        return {
            "model": self.model,
            "run_dir": str(self.run_dir),
            "n_problems": int(len(self.problems)),
            "n_samples": int(len(self.samples)),
            "pass_at_k": {f"pass@{int(k)}": float(p) for k, p in ks},
            "kinds": {k: int(kinds.get(k, 0)) for k in KINDS},
            "timings": self.timings,
            "provenance": self.provenance,
        }


def dedupe(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first record of each (task, sample)."""
    seen: set[tuple[str, int]] = set()
    out = []
    for r in records:
        k = (r["task_id"], int(r["sample"]))
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


SAMPLE_COLUMNS = [
    "task_id", "sample", "passed", "kind", "error_type", "message", "line", "source_line", "completion",
    "stop_reason", "stop_found", "n_prompt_tokens", "n_tokens", "gen_s", "exec_s", "cpu_s", "seed", "prompt_mode",
]


def samples_frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per executed sample, sorted by problem number and sample index."""
    df = pd.DataFrame(list(records))
    for col in SAMPLE_COLUMNS:
        if col not in df.columns:
            df[col] = None
    if df.empty:
        return df[SAMPLE_COLUMNS]
    df["_num"] = df["task_id"].map(_task_number)
    df = df.sort_values(["_num", "task_id", "sample"]).drop(columns="_num").reset_index(drop=True)
    extra = [c for c in df.columns if c not in SAMPLE_COLUMNS]
    return df[SAMPLE_COLUMNS + extra]


def _task_number(task_id: str) -> int:
    tail = str(task_id).rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 1 << 30


def problems_frame(samples: pd.DataFrame, problems: Sequence[Problem], n: int) -> pd.DataFrame:
    """Per problem: n, c, pass@1 (= c/n), whether any sample passed, outcome counts, the first
    failing sample's kind/error, and (for n == 1) the completion."""
    rows = []
    by_task = {t: g for t, g in samples.groupby("task_id", sort=False)} if not samples.empty else {}
    for p in problems:
        g = by_task.get(p.task_id)
        if g is None or g.empty:
            continue
        passed = g["passed"].astype(bool)
        fails = g[~passed]
        first = fails.iloc[0] if not fails.empty else None
        row = {
            "task_id": p.task_id,
            "entry_point": p.entry_point,
            "n": int(len(g)),
            "c": int(passed.sum()),
            "pass_at_1": float(passed.mean()),
            "solved": bool(passed.any()),
            "kind": ("pass" if first is None else first["kind"]) if len(g) == 1 else _kinds_text(g),
            "error_type": None if first is None else first["error_type"],
            "message": None if first is None else _failure_text(first),
        }
        for k in KINDS:
            row[f"n_{k}"] = int((g["kind"] == k).sum())
        row["mean_tokens"] = float(pd.to_numeric(g["n_tokens"], errors="coerce").mean())
        row["completion"] = g["completion"].iloc[0] if len(g) == 1 else None
        rows.append(row)
    cols = ["task_id", "entry_point", "n", "c", "pass_at_1", "solved", "kind", "error_type", "message"]
    cols += [f"n_{k}" for k in KINDS] + ["mean_tokens", "completion"]
    df = pd.DataFrame(rows, columns=cols)
    if not df.empty and (df["n"] < n).any():
        short = df.loc[df["n"] < n, "task_id"].tolist()
        raise InputError(f"incomplete samples for {len(short)} problem(s), e.g. {short[0]}; run again to resume")
    return df


def _failure_text(row: pd.Series) -> str | None:
    """The error message, or for a bare ``assert`` the failing source line."""
    msg = row.get("message")
    if isinstance(msg, str) and msg:
        return msg
    src = row.get("source_line")
    return src if isinstance(src, str) and src else None


def _kinds_text(g: pd.DataFrame) -> str:
    counts = g["kind"].value_counts()
    return ",".join(f"{k}:{int(counts[k])}" for k in KINDS if k in counts)


def load_run(run_dir: str | os.PathLike[str]) -> CodegenResult:
    """Reload a finished run from its directory (results.jsonl + provenance.json)."""
    d = Path(run_dir)
    prov_path = d / "provenance.json"
    if not prov_path.exists():
        raise InputError(f"not a codegen run directory (no provenance.json): {d}")
    prov = io.read_json(prov_path)
    key = prov["settings"]["key"]
    with JsonlStore(d / "results.jsonl") as store:
        records = dedupe([r for r in store.records if r.get("key") == key])
    ids = prov["settings"].get("task_ids")
    probs = load_problems(task_ids=ids) if ids else load_problems()
    samples = samples_frame(records)
    n = int(prov["settings"]["n"])
    problems_df = problems_frame(samples, probs, n)
    return CodegenResult(
        model=prov["models"]["model"]["name"],
        run_dir=d,
        samples=samples,
        problems=problems_df,
        pass_at_k=estimate(problems_df, default_ks(n)),
        provenance=prov,
    )

