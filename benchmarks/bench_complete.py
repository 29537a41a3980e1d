"""Benchmark: completion probes with a shared prefill and parallel sequences vs one sequence per probe.

The same probes (``--probes-per-language`` line probes in each of the shipped corpus's languages,
prompts of at most ``--context`` tokens) are generated greedily in one process, on one model:

1. **branched**: :func:`tokprobe.models.branching.generate_branches`, as ``tokprobe complete`` runs
   them: each file's prefix is prefilled once, the probes branch from its KV state by sequence
   copy and are decoded together as parallel sequences, each stopping at the end of its line;
2. **single**: :meth:`Model.generate` (greedy) on each probe's own prompt, for as many tokens as
   the branched run generated for it (the same work, one sequence at a time).

It reports seconds per probe of each (wall and CPU time: the machine may be shared), their ratio
(single / branched), tokens prefilled, and how
many probes produced the same tokens both ways (llama.cpp's kernels depend on the number of rows
in a batch, so a near-tie can flip on a real model).

    python benchmarks/bench_complete.py [--model gemma3-270m] [--threads 2] [--probes-per-language 24]

Prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

from tokprobe.complete import ProbeSettings, extract, plan_only
from tokprobe.complete.run import prompt_sets
from tokprobe.models import load
from tokprobe.models.branching import BranchStats, generate_branches


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--probes-per-language", type=int, default=24)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--max-tokens", type=int, default=24)
    args = ap.parse_args(argv)

    s = ProbeSettings(probes_per_language=args.probes_per_language, context=args.context,
                      max_tokens=args.max_tokens, threads=args.threads)
    plan = plan_only(None, s)
    model = load(args.model, threads=args.threads, n_ctx=1024, n_batch=512)
    sets = [(fp, pr) for fp in plan.files for pr in prompt_sets(model, fp, s.context) if pr.cuts]
    info = [(fp.probes[k].indent, fp.data[pr.starts[i]:fp.probes[k].start].count(b"\n"))
            for fp, pr in sets for i, k in enumerate(pr.probes)]
    model.generate(sets[0][1].stream[:8], max_tokens=2)  # warm-up: the context and the weights in memory

    st = BranchStats()
    c0 = time.process_time()
    t0 = time.perf_counter()
    out = generate_branches(model, [pr.stream for _, pr in sets], [pr.cuts for _, pr in sets], max_tokens=s.tokens,
                            stop=lambda i, text: extract(text, info[i][1], "line", info[i][0])[1], stats=st)
    t_branch = time.perf_counter() - t0
    cpu_branch = time.process_time() - c0
    branches = [b for bs in out for b in bs]

    same = 0
    n_single_prefill = 0
    t0 = time.perf_counter()
    j = 0
    c0 = time.process_time()
    for _, pr in sets:
        for c in pr.cuts:
            b = branches[j]
            j += 1
            g = model.generate(pr.stream[:c], max_tokens=max(1, len(b.token_ids)), temperature=0.0)
            n_single_prefill += c
            same += int(g.token_ids[:len(b.token_ids)] == b.token_ids)
    t_single = time.perf_counter() - t0
    cpu_single = time.process_time() - c0
    model.close()

    n = len(branches)
    res = {
        "benchmark": "complete", "model": args.model, "threads": args.threads, "probes": n,
        "context": s.context, "max_tokens": s.tokens, "generated_tokens": st.n_generated,
        "branched_prefill_tokens": st.n_prefill, "single_prefill_tokens": n_single_prefill,
        "branched_s": round(t_branch, 3), "single_s": round(t_single, 3),
        "branched_ms_per_probe": round(1000 * t_branch / n, 1), "single_ms_per_probe": round(1000 * t_single / n, 1),
        "ratio_single_over_branched": round(t_single / t_branch, 2), "same_tokens": same,
        "branched_cpu_s": round(cpu_branch, 2), "single_cpu_s": round(cpu_single, 2),
        "cpu_ratio_single_over_branched": round(cpu_single / cpu_branch, 2),
    }
    print(f"{n} line probes on {args.model}, {args.threads} threads, prompts <= {s.context} tokens, "
          f"{st.n_generated} tokens generated")
    print(f"  branched (shared prefill, parallel sequences): {res['branched_ms_per_probe']:8.1f} ms/probe, "
          f"{st.n_prefill} tokens prefilled, {st.n_decodes} decodes")
    print(f"  single sequence (Model.generate per probe)  : {res['single_ms_per_probe']:8.1f} ms/probe, "
          f"{n_single_prefill} tokens prefilled")
    print(f"  ratio single/branched: {res['ratio_single_over_branched']:.2f} wall, "
          f"{res['cpu_ratio_single_over_branched']:.2f} CPU time; same tokens on {same} of {n} probes")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
