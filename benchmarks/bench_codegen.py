"""Benchmark: HumanEval code generation and sandboxed execution.

1. Generation speed: ``Model.generate`` (greedy, no stop sequences, a fixed token budget) against
   llama.cpp's own generation rate on the same model file, prompt, threads and context size -
   a raw ``llama_decode`` loop with llama.cpp's greedy sampler, written here directly against
   the ``llama_cpp`` low-level API in the same process. Both are timed over the whole call
   (prompt prefill + decode), alternating, best of ``--repeats``; the ratio is tokprobe/raw
   (1.0 = no overhead). Both must produce the same greedy tokens.
2. Execution: the 164 canonical solutions in the sandbox on ``--jobs`` parallel slots
   (target: under 30 s on 2 cores), all must pass.

    python benchmarks/bench_codegen.py [--model gemma3-270m] [--threads 2] [--tokens 128] [--jobs 2]

Prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
import time


def raw_llama_generate(path: str, prompt_ids: list[int], n_tokens: int, threads: int, n_ctx: int,
                       flash_attn: int | None = 0):
    """llama.cpp's own loop: decode the prompt, then sample greedily and decode one token at a time.

    ``flash_attn``: 0 = off (as tokprobe's Model, whose logits must not depend on batching),
    None = llama.cpp's default (auto)."""
    import llama_cpp as L

    log_cb = L.llama_log_callback(lambda level, text, user: None)
    L.llama_log_set(log_cb, None)
    L.llama_backend_init()
    mp = L.llama_model_default_params()
    model = L.llama_model_load_from_file(path.encode(), mp)
    if not model:
        raise RuntimeError(f"llama.cpp could not load {path}")
    cp = L.llama_context_default_params()
    cp.n_ctx = n_ctx
    cp.n_batch = 512
    cp.n_ubatch = 512
    cp.n_threads = threads
    cp.n_threads_batch = threads
    cp.no_perf = True
    if flash_attn is not None:
        cp.flash_attn_type = flash_attn
    ctx = L.llama_init_from_model(model, cp)
    vocab = L.llama_model_get_vocab(model)
    chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())

    def run() -> tuple[float, list[int]]:
        L.llama_memory_clear(L.llama_get_memory(ctx), True)
        L.llama_sampler_reset(chain)
        t0 = time.perf_counter()
        arr = (L.llama_token * len(prompt_ids))(*prompt_ids)
        for k in range(0, len(prompt_ids), 512):
            nb = min(512, len(prompt_ids) - k)
            start = ctypes.cast(ctypes.addressof(arr) + k * ctypes.sizeof(L.llama_token), ctypes.POINTER(L.llama_token))
            if L.llama_decode(ctx, L.llama_batch_get_one(start, nb)) != 0:
                raise RuntimeError("llama_decode failed (prompt)")
        out: list[int] = []
        one = (L.llama_token * 1)()
        while len(out) < n_tokens:
            t = L.llama_sampler_sample(chain, ctx, -1)
            if L.llama_vocab_is_eog(vocab, t):
                break
            out.append(int(t))
            if len(out) >= n_tokens:
                break
            one[0] = t
            if L.llama_decode(ctx, L.llama_batch_get_one(one, 1)) != 0:
                raise RuntimeError("llama_decode failed")
        return time.perf_counter() - t0, out

    def close() -> None:
        L.llama_sampler_free(chain)
        L.llama_free(ctx)
        L.llama_model_free(model)

    run._keep = log_cb  # type: ignore[attr-defined]
    return run, close


def bench_generation(args) -> dict:
    import tokprobe
    from tokprobe.codegen import load_problems

    prompt = load_problems(task_ids=[args.task])[0].prompt
    model = tokprobe.load(args.model, threads=args.threads, n_ctx=args.n_ctx)
    threads = model.threads
    ids = [int(x) for x in model.tokenize(prompt)]
    raw_run, raw_close = raw_llama_generate(str(model.path), ids, args.tokens, threads, args.n_ctx, 0)
    def_run, def_close = raw_llama_generate(str(model.path), ids, args.tokens, threads, args.n_ctx, None)

    def tok_run() -> tuple[float, list[int]]:
        t0 = time.perf_counter()
        g = model.generate(prompt, max_tokens=args.tokens, temperature=0.0, stop=())
        return time.perf_counter() - t0, list(g.token_ids)

    runs = {"tokprobe": tok_run, "raw": raw_run, "raw_default": def_run}
    times: dict[str, list[float]] = {k: [] for k in runs}
    ids_out: dict[str, list[int]] = {}
    for fn in runs.values():  # warm-up (page cache, first context allocation)
        fn()
    for _ in range(args.repeats):  # interleaved, so that load from other processes hits all alike
        for name, fn in runs.items():
            dt, ids_out[name] = fn()
            times[name].append(dt)
    raw_close()
    def_close()
    model.close()
    rate = {k: len(ids_out[k]) / min(v) for k, v in times.items()}
    return {
        "model": args.model,
        "model_sha256": model.sha256,
        "threads": threads,
        "prompt_tokens": len(ids),
        "generated_tokens": len(ids_out["tokprobe"]),
        "same_tokens": ids_out["tokprobe"] == ids_out["raw"],
        "tokprobe_tok_per_s": round(rate["tokprobe"], 2),
        "llama_cpp_tok_per_s": round(rate["raw"], 2),
        "llama_cpp_default_fa_tok_per_s": round(rate["raw_default"], 2),
        "ratio": round(rate["tokprobe"] / rate["raw"], 3),
        "ratio_vs_default_fa": round(rate["tokprobe"] / rate["raw_default"], 3),
        "timing": "whole call (prefill + decode), best of repeats",
        "seconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
    }


def bench_execution(args) -> dict:
    from tokprobe.codegen import Limits, Sandbox, load_problems

    problems = load_problems()
    with Sandbox(Limits(timeout_s=15), jobs=args.jobs) as sb:
        iso = sb.probe()
        t0 = time.perf_counter()
        results = sb.run_many([p.program(p.canonical_solution) for p in problems])
        elapsed = time.perf_counter() - t0
    n_pass = sum(r.passed for r in results)
    return {
        "problems": len(problems),
        "passed": n_pass,
        "jobs": args.jobs,
        "seconds": round(elapsed, 2),
        "per_program_ms": round(1000 * elapsed * args.jobs / len(problems), 1),
        "budget_s": args.budget,
        "within_budget": elapsed < args.budget,
        "isolation": {k: iso.get(k) for k in ("net", "mount", "pid", "private_tmp", "privileged")},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--tokens", type=int, default=96, help="tokens generated per timed call")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--task", default="HumanEval/0", help="problem whose prompt is used")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--budget", type=float, default=30.0, help="seconds allowed for the 164 canonical programs")
    ap.add_argument("--skip-generation", action="store_true")
    args = ap.parse_args(argv)

    out: dict = {"benchmark": "codegen"}
    if not args.skip_generation:
        gen = bench_generation(args)
        out["generation"] = gen
        print(f"generation  {gen['model']} threads={gen['threads']} prompt={gen['prompt_tokens']} tok, "
              f"{gen['generated_tokens']} generated")
        print(f"  tokprobe Model.generate : {gen['tokprobe_tok_per_s']:8.2f} tok/s")
        rate = gen["llama_cpp_tok_per_s"]
        print(f"  raw llama_decode loop   : {rate:8.2f} tok/s  (flash attention off, as tokprobe)")
        print(f"  raw, llama.cpp defaults : {gen['llama_cpp_default_fa_tok_per_s']:8.2f} tok/s  (flash attention auto)")
        print(f"  ratio tokprobe/raw      : {gen['ratio']:8.3f}   same tokens: {gen['same_tokens']}")
        print(f"  ratio vs defaults       : {gen['ratio_vs_default_fa']:8.3f}")
    ex = bench_execution(args)
    out["execution"] = ex
    print(f"execution   {ex['passed']}/{ex['problems']} canonical solutions passed in {ex['seconds']:.2f} s "
          f"on {ex['jobs']} jobs ({ex['per_program_ms']} ms per program); budget {ex['budget_s']:.0f} s: "
          f"{'ok' if ex['within_budget'] else 'EXCEEDED'}")
    ok = ex["passed"] == ex["problems"] and ex["within_budget"]
    out["ok"] = ok
    print(json.dumps(out))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
