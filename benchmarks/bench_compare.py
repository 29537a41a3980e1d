"""Benchmark: ``tokprobe.compare`` against the cost of decoding alone and against llama.cpp's KL workflow.

1. Throughput: lock-step comparison (reference + variant decode the same batches, logits compared
   in place by the C++ core, per-window state written) against decode-only of the same two models
   on the same windows in the same run (both models iterated in lock-step, logits untouched).
   Target: lock-step >= 95% of decode-only tokens/s. Best of ``--repeats``, alternating.
2. Memory: peak RSS (``ru_maxrss`` of a fresh subprocess) of a lock-step comparison on 1k and on
   16k corpus tokens. Target: flat (ratio close to 1), since nothing holds more than one batch of
   logits per model.
3. Reference size: bytes per scored token of the cached reference (cache-exact: float16 log-probs;
   cache-topk: top-K ids + log-probs + tail mass) next to llama.cpp's ``--kl-divergence-base`` file
   (2 x n_vocab + 8 bytes per scored token: uint16 log-probs plus a scale and a minimum per row).

    python benchmarks/bench_compare.py [--reference gemma3-270m-F16] [--variant gemma3-270m-Q4_0]
        [--threads 2] [--ctx 512] [--windows 4] [--rss-tokens 1024,16384] [--topk 64] [--quick]

``--quick`` uses smollm2-135m and its Q8_0 with a short context (minutes less). Ladder names are
quantized on first use (``tokprobe.models.ladder``). Prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _ensure(name: str) -> str:
    """A model name or path; ladder names of the default model are built on first use."""
    from tokprobe import models

    try:
        p = models.resolve(name)
        if Path(p).exists():
            return str(p)
    except Exception:
        pass
    split = models.split_ladder_name(name)
    if split is None:
        raise SystemExit(f"unknown model {name!r}")
    out = models.ladder(split[0], types=[split[1]])
    return str(next(iter(out.values())))


def _stream_ids(ref: str, max_tokens: int, corpus: str | None):
    from tokprobe import models
    from tokprobe.compare.stream import build_stream
    from tokprobe.corpus import load_corpus

    with models.load(ref, vocab_only=True) as m:
        return build_stream(load_corpus(corpus).files, m, m.vocab, max_tokens=max_tokens).ids


def decode_only(ref: str, var: str, ids, n_ctx: int, threads: int) -> tuple[float, int]:
    """Seconds to decode every window with both models in lock-step (models loaded beforehand)."""
    from tokprobe import models

    with models.load(ref, n_ctx=n_ctx, n_batch=n_ctx, threads=threads) as a, \
            models.load(var, n_ctx=n_ctx, n_batch=n_ctx, threads=threads) as b:
        t0 = time.perf_counter()
        n = 0
        pairs = zip(a.evaluate(ids, n_ctx=n_ctx, batch=n_ctx), b.evaluate(ids, n_ctx=n_ctx, batch=n_ctx), strict=True)
        for x, _ in pairs:
            n += x.rows
        return time.perf_counter() - t0, n


def lockstep(ref: str, var: str, corpus: str | None, n_ctx: int, max_tokens: int,
             threads: int) -> tuple[float, int, dict]:
    from tokprobe.compare import compare

    with tempfile.TemporaryDirectory() as d:
        r = compare(ref, [var], corpus, n_ctx=n_ctx, batch=n_ctx, max_tokens=max_tokens, threads=threads,
                    scheme="llama", floor=False, run_dir=Path(d) / "run", cache_dir=Path(d) / "cache")
        return r.timings["passes_s"], int(r.summary.loc[0, "n_tokens"]), dict(r.timings)


_RSS_CHILD = r"""
import json, resource, sys, tempfile
from pathlib import Path
ref, var, corpus, n_ctx, max_tokens, threads, what = sys.argv[1:8]
corpus = None if corpus == "-" else corpus
n_ctx, max_tokens, threads = int(n_ctx), int(max_tokens), int(threads)
if what == "compare":
    from tokprobe.compare import compare
    with tempfile.TemporaryDirectory() as d:
        r = compare(ref, [var], corpus, n_ctx=n_ctx, batch=n_ctx, max_tokens=max_tokens, threads=threads,
                    scheme="llama", floor=False, run_dir=Path(d) / "run", cache_dir=Path(d) / "cache")
        n = int(r.summary.loc[0, "n_tokens"])
else:  # decode-only baseline: the same two models over the same windows, logits untouched
    sys.path.insert(0, sys.argv[8])
    from bench_compare import _stream_ids, decode_only
    _, n = decode_only(ref, var, _stream_ids(ref, max_tokens, corpus), n_ctx, threads)
print(json.dumps({"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "n_scored": n}))
"""


def peak_rss(ref: str, var: str, corpus: str | None, n_ctx: int, max_tokens: int, threads: int,
             what: str = "compare") -> dict:
    out = subprocess.run([sys.executable, "-c", _RSS_CHILD, ref, var, corpus or "-", str(n_ctx), str(max_tokens),
                          str(threads), what, str(Path(__file__).resolve().parent)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cache_bytes(ref: str, var: str, corpus: str | None, n_ctx: int, max_tokens: int, threads: int, topk: int) -> dict:
    from tokprobe.compare import compare

    out = {}
    with tempfile.TemporaryDirectory() as d:
        for mode in ("cache-exact", "cache-topk"):
            r = compare(ref, [var], corpus, n_ctx=n_ctx, batch=n_ctx, max_tokens=max_tokens, threads=threads,
                        scheme="llama", mode=mode, topk=topk, floor=False, run_dir=Path(d) / mode,
                        cache_dir=Path(d) / "cache")
            s = r.summary.iloc[0]
            out[mode] = {"bytes_per_token": r.reference_cache["bytes_per_token"], "kl_mean": float(s["kl_mean"]),
                         "kl_lower_mean": float(s["kl_lower_mean"]), "kl_upper_mean": float(s["kl_upper_mean"])}
        r = compare(ref, [var], corpus, n_ctx=n_ctx, batch=n_ctx, max_tokens=max_tokens, threads=threads,
                    scheme="llama", floor=False, run_dir=Path(d) / "lockstep", cache_dir=Path(d) / "cache")
        out["lockstep_kl_mean"] = float(r.summary.loc[0, "kl_mean"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", default=None)
    ap.add_argument("--variant", default=None)
    ap.add_argument("--corpus", default=None, help="default: the shipped corpus")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--ctx", type=int, default=None)
    ap.add_argument("--windows", type=int, default=4, help="windows of the throughput test")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--rss-tokens", default="1024,16384")
    ap.add_argument("--topk", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="smollm2-135m vs its Q8_0, n_ctx 256")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: throughput,rss,cache")
    a = ap.parse_args(argv)

    from tokprobe import models
    from tokprobe.provenance import available_cores

    threads = a.threads or available_cores()
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    if a.quick:
        ref = _ensure(a.reference or "smollm2-135m")
        var = a.variant or str(Path(tempfile.gettempdir()) / "tokprobe-bench-smollm2-Q8_0.gguf")
        if not Path(var).exists():
            models.quantize(ref, "Q8_0", var)
        n_ctx = a.ctx or 256
    else:
        ref = _ensure(a.reference or "gemma3-270m-F16")
        var = _ensure(a.variant or "gemma3-270m-Q4_0")
        n_ctx = a.ctx or 512
    with models.load(ref, vocab_only=True) as m:
        n_vocab = m.n_vocab
    result: dict = {"reference": Path(ref).name, "variant": Path(var).name, "n_ctx": n_ctx, "threads": threads,
                    "n_vocab": n_vocab}
    rows: list[tuple[str, str]] = []

    if "throughput" not in skip:
        max_tokens = a.windows * n_ctx
        ids = _stream_ids(ref, max_tokens, a.corpus)
        dec, lock, extra = [], [], {}
        for _ in range(a.repeats):
            t, n = decode_only(ref, var, ids, n_ctx, threads)
            dec.append(t)
            t2, n2, timings = lockstep(ref, var, a.corpus, n_ctx, max_tokens, threads)
            lock.append(t2)
            extra = timings
            assert n2 == n, (n, n2)
        dec_tps, lock_tps = n / min(dec), n / min(lock)
        result.update(decode_only_tok_s=dec_tps, lockstep_tok_s=lock_tps, lockstep_ratio=lock_tps / dec_tps,
                      scored_tokens=n, lockstep_timings=extra)
        rows += [("decode-only (2 models, scored tok/s)", f"{dec_tps:.1f}"),
                 ("lock-step compare (scored tok/s)", f"{lock_tps:.1f}"),
                 ("lock-step / decode-only (target >= 0.95)", f"{lock_tps / dec_tps:.3f}"),
                 ("end-to-end compare() seconds (incl. load, lexing, save)", f"{extra.get('total_s', 0):.1f}")]

    if "rss" not in skip:
        sizes = [int(x) for x in a.rss_tokens.split(",")]
        rss = {n: peak_rss(ref, var, a.corpus, n_ctx, n, threads) for n in sizes}
        base = peak_rss(ref, var, a.corpus, n_ctx, sizes[0], threads, what="decode")
        lo, hi = rss[sizes[0]], rss[sizes[-1]]
        ratio = hi["maxrss_kb"] / lo["maxrss_kb"]
        result.update(rss={str(k): v for k, v in rss.items()}, rss_ratio=ratio, rss_decode_only=base,
                      rss_over_decode_only=hi["maxrss_kb"] / base["maxrss_kb"])
        for n in sizes:
            rows.append((f"peak RSS, {n} corpus tokens ({rss[n]['n_scored']} scored)",
                         f"{rss[n]['maxrss_kb'] / 1024:.0f} MiB"))
        rows.append((f"peak RSS ratio {sizes[-1]} / {sizes[0]} tokens (target ~1.0)", f"{ratio:.3f}"))
        rows.append((f"peak RSS of decode-only, {sizes[0]} tokens (llama.cpp's own buffers)",
                     f"{base['maxrss_kb'] / 1024:.0f} MiB"))

    if "cache" not in skip:
        c = cache_bytes(ref, var, a.corpus, n_ctx, 2 * n_ctx, threads, a.topk)
        llama = 2 * n_vocab + 8
        ex, tk = c["cache-exact"], c["cache-topk"]
        result.update(llama_cpp_bytes_per_token=llama, cache_exact_bytes_per_token=ex["bytes_per_token"],
                      cache_topk_bytes_per_token=tk["bytes_per_token"], topk=a.topk,
                      topk_size_ratio_vs_llama=llama / tk["bytes_per_token"],
                      exact_size_ratio_vs_llama=llama / ex["bytes_per_token"],
                      kl_lockstep=c["lockstep_kl_mean"], kl_cache_exact=ex["kl_mean"],
                      kl_cache_exact_bounds=[ex["kl_lower_mean"], ex["kl_upper_mean"]],
                      kl_cache_topk=tk["kl_mean"], kl_cache_topk_bounds=[tk["kl_lower_mean"], tk["kl_upper_mean"]])
        rows += [("llama.cpp base file (bytes/token = 2 x vocab + 8)", f"{llama}"),
                 ("cache-exact (bytes/token)",
                  f"{ex['bytes_per_token']:.0f}  ({llama / ex['bytes_per_token']:.2f}x smaller)"),
                 (f"cache-topk K={a.topk} (bytes/token)",
                  f"{tk['bytes_per_token']:.0f}  ({llama / tk['bytes_per_token']:.0f}x smaller)"),
                 ("mean KL lock-step / cache-exact", f"{c['lockstep_kl_mean']:.6f} / {ex['kl_mean']:.6f} "
                                                    f"(bound [{ex['kl_lower_mean']:.6f}, {ex['kl_upper_mean']:.6f}])"),
                 (f"mean KL cache-topk K={a.topk} (lower) [upper]", f"{tk['kl_mean']:.6f} [{tk['kl_upper_mean']:.4f}]")]

    width = max(len(k) for k, _ in rows) if rows else 0
    print(f"bench_compare: {result['reference']} vs {result['variant']}, n_ctx {n_ctx}, {threads} threads")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
