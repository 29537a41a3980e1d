"""Benchmark: the memory planner's estimate against the measured peak RSS of real comparisons.

For the default ladder (gemma3-270m F16 against Q8_0 ... Q2_K, built with ``tokprobe.models.ladder``
when missing) ``tokprobe compare`` runs as a child process in each mode the planner chooses between
(lock-step with every model, and the exact cached reference with one model at a time), on a short
balanced corpus; its peak RSS comes from the child's ``wait4`` rusage. Printed per run: the planner's
estimate (``tokprobe compare --plan``, nothing loaded), the measured peak and their ratio, and a
baseline of the same process that loads nothing but its imports (the floor every run shares).
Target: every estimate within 25 % of the measurement.

    python benchmarks/bench_memory.py [--quick] [--threads N] [--tokens-per-language 60]

``--quick``: F16, Q4_0 and Q2_K only. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

LADDER = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K")
QUICK = ("F16", "Q4_0", "Q2_K")
TARGET = 0.25


def run_child(args: list[str]) -> tuple[int, int, str]:
    """(exit status, peak RSS in bytes of the child's process tree, stderr) of ``args``."""
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        err.seek(0)
        return os.waitstatus_to_exitcode(status), int(ru.ru_maxrss) * 1024, err.read().decode(errors="replace")


def ladder_names(types: tuple[str, ...]) -> list[str]:
    from tokprobe import models

    models.ladder("gemma3-270m", types=list(types))
    return [f"gemma3-270m-{t}" for t in types]


def planned(names: list[str], mode: str) -> int:
    from tokprobe.compare.memory_plan import plan_memory
    from tokprobe.models import resolve

    plan = plan_memory([resolve(n) for n in names], mode=mode, n_ctx=512, n_batch=512)
    return plan.peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--tokens-per-language", type=int, default=60)
    a = ap.parse_args()
    names = ladder_names(QUICK if a.quick else LADDER)
    cli = [sys.executable, "-m", "tokprobe"]
    code, floor, err = run_child([*cli, "--version"])
    if code != 0:
        raise SystemExit(err)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("lockstep", "cache-exact"):
            args = [*cli, "compare", *names, "--mode", mode, "--tokens-per-language", str(a.tokens_per_language),
                    "--threads", str(a.threads), "--run-dir", f"{tmp}/{mode}", "--cache-dir", f"{tmp}/ref",
                    "--no-floor", "-f", "json"]
            code, peak, err = run_child(args)
            if code != 0:
                raise SystemExit(f"{mode}: {err.strip().splitlines()[-1] if err.strip() else code}")
            est = planned(names, mode)
            rows.append({"mode": mode, "models": len(names), "estimate_mib": round(est / 2**20, 1),
                         "measured_mib": round(peak / 2**20, 1), "ratio": round(est / peak, 3)})
    print(f"process floor (imports only): {floor / 2**20:.0f} MiB")
    print(f"{'mode':<12} {'models':>6} {'estimate MiB':>13} {'measured MiB':>13} {'estimate/measured':>18}")
    for r in rows:
        print(f"{r['mode']:<12} {r['models']:>6} {r['estimate_mib']:>13} {r['measured_mib']:>13} {r['ratio']:>18}")
    ok = all(abs(r["ratio"] - 1) <= TARGET for r in rows)
    print(json.dumps({"benchmark": "memory", "floor_mib": round(floor / 2**20, 1), "runs": rows,
                      "target_within": TARGET, "meets_target": ok}))


if __name__ == "__main__":
    main()
