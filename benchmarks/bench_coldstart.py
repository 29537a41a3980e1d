"""Benchmark: cold start over every level of the default model's quant ladder, loads included.

Builds (or reuses) the ladder with ``tokprobe.models.ladder()``, times the bare loads of all
files in this process (one warm-up pass first, so both timings see a warm page cache), then
times one ``tokprobe.coldstart.coldstart`` call over all levels (loads, token sets, one forward
pass per model, pairwise KL to the F16 reference). Target: under 30 s for the 8-file ladder.

    python benchmarks/bench_coldstart.py [--model gemma3-270m] [--threads N] [--budget 30]

Prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def _order(paths: dict) -> dict:
    items = list(paths.items())
    items.sort(key=lambda kv: 0 if str(kv[0]).upper().endswith(("F16", "F32", "BF16")) else 1)
    return {str(k): str(v) for k, v in items}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="ladder source (default: the default model)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--budget", type=float, default=30.0, help="seconds allowed for the whole cold-start run")
    ap.add_argument("--chain", action="store_true", help="also chain multi-token keywords")
    args = ap.parse_args(argv)

    from tokprobe import core, models
    from tokprobe.coldstart import coldstart

    t0 = time.perf_counter()
    paths = models.ladder(args.model) if args.model else models.ladder()
    t_ladder = time.perf_counter() - t0
    paths = _order(paths)
    kw = {"threads": args.threads} if args.threads else {}

    def bare_loads() -> float:
        t = time.perf_counter()
        for p in paths.values():
            m = models.load(p, **kw)
            m.close()
        return time.perf_counter() - t

    bare_loads()  # warm the page cache for both measurements
    t_bare = bare_loads()

    t = time.perf_counter()
    res = coldstart(paths, threads=args.threads, chain=args.chain)
    t_cs = time.perf_counter() - t

    cols = ["model", "context", "pkp", "kap", "stp", "nlp", "indent_p", "entropy", "kl_to_ref", "js_to_ref"]
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(res.summary[cols].to_string(index=False))
    timings = res.provenance.settings["timings"]
    for row in timings:
        print(f"  {row['model']:<28} load {row['load_s']:6.2f} s  total {row['total_s']:6.2f} s")
    print(f"ladder build/reuse {t_ladder:.2f} s; bare loads {t_bare:.2f} s; cold start {t_cs:.2f} s "
          f"(ratio {t_cs / t_bare:.2f}x the bare loads; budget {args.budget:.0f} s)")  # fmt: skip
    out = {
        "benchmark": "coldstart_ladder",
        "n_models": len(paths),
        "models": list(paths),
        "threads": args.threads or core.get_threads(),
        "chain": bool(args.chain),
        "ladder_seconds": round(t_ladder, 3),
        "bare_load_seconds": round(t_bare, 3),
        "coldstart_seconds": round(t_cs, 3),
        "ratio_vs_bare_load": round(t_cs / t_bare, 3) if t_bare > 0 else None,
        "seconds_per_model": round(t_cs / len(paths), 3),
        "budget_seconds": args.budget,
        "within_budget": t_cs < args.budget,
    }
    print(json.dumps(out))
    return 0 if out["within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
