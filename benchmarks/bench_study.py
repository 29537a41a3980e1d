"""Benchmark: wall time of a whole study, per step, against its budget.

Runs the default study (``--quick``: F16/Q4_0/Q2_K, 250 bytes of code per language, 3 problems;
budget 180 s; without it: the 8-level ladder, budget 900 s) into a fresh run directory, so no
step is skipped (the quant ladder files themselves are reused from the tokprobe cache when they
exist; ``--fresh-ladder`` rebuilds them). As a same-process baseline it times loading every model
of the study once (the floor any study pays), and prints each step's time, its share, and the
ratios total/budget and total/load-floor, and the divergence throughput of its compare step: scored
tokens per second across the whole ladder (each variant's scored tokens, summed over variants, over
the compare step's seconds; also per decoded model row, the reference's included). The last line is
one JSON object.

    python benchmarks/bench_study.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def compare_throughput(res) -> dict:
    """Scored tokens of every variant (summed) and decoded rows (variants + references) per second of the
    compare step, read from the step's per-group summary.json files."""
    step = next((s for s in res.steps if s.name == "compare" and not s.skipped), None)
    if step is None or step.seconds <= 0:
        return {}
    scored = rows = 0
    for rel in (step.info.get("groups") or {}).values():
        summary = json.loads((step.directory / rel / "summary.json").read_text())
        n = [int(r["n_tokens"]) for r in summary]
        scored += sum(n)
        rows += sum(n) + (max(n) if n else 0)  # the reference decodes the same rows once
    return {"compare_s": round(step.seconds, 2), "scored_tokens": scored,
            "scored_tokens_per_s": round(scored / step.seconds, 1), "decoded_rows_per_s": round(rows / step.seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--fresh-ladder", action="store_true")
    args = ap.parse_args()

    from tokprobe.models import ladder, load
    from tokprobe.study import default_config, run_study

    cfg = default_config(quick=args.quick)
    cfg.threads = args.threads
    budget = 180.0 if args.quick else 900.0
    group = cfg.groups[0]
    paths = ladder(group.ladder_source, group.ladder_types, force=args.fresh_ladder)

    t0 = time.perf_counter()
    for p in paths.values():
        with load(p, threads=args.threads or None):
            pass
    load_floor = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_study(cfg, Path(tmp) / "run")
        total = time.perf_counter() - t0
        tput = compare_throughput(res)
    steps = {s.name: round(s.seconds, 2) for s in res.steps}
    print(f"study {'--quick' if args.quick else '(default)'}: {total:.1f} s (budget {budget:.0f} s)")
    for name, sec in steps.items():
        print(f"  {name:<10} {sec:8.1f} s  {100 * sec / total:5.1f}%")
    print(f"  loading every model once: {load_floor:.1f} s")
    print(f"  ratio total/budget {total / budget:.2f}, total/load-floor {total / load_floor:.1f}")
    if tput:
        print(f"  divergence throughput: {tput['scored_tokens_per_s']:.1f} scored tokens/s across the ladder "
              f"({tput['scored_tokens']} in {tput['compare_s']:.1f} s; "
              f"{tput['decoded_rows_per_s']:.1f} decoded rows/s)")
    print(json.dumps({"bench": "study", "quick": args.quick, "total_s": round(total, 1), "budget_s": budget,
                      "total_over_budget": round(total / budget, 3), "total_over_load_floor":
                      round(total / load_floor, 2), "steps_s": steps, "compare_throughput": tput}))


if __name__ == "__main__":
    main()
