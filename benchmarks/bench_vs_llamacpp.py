"""Benchmark: ``tokprobe compare`` against llama.cpp's own ``llama-perplexity`` KL workflow, side by side.

The workload of llama.cpp's KL divergence tool: a reference (the ladder's F16 of the default model) and
variants (Q8_0, Q4_0, Q2_K, made with ``tokprobe.models.ladder`` when missing), one text (eight CPython
standard-library modules concatenated), ``-c 512``, 16 chunks (``--quick``: 4), the second half of each
chunk scored. llama.cpp runs a base pass (``--kl-divergence-base``, writing its reference file) and one
``--kl-divergence`` pass per variant; tokprobe runs one ``tokprobe compare --scheme llama`` (lock-step,
nothing on disk but the results). Both are built from / load the same llama.cpp: ``llama-perplexity`` is
compiled once from the pinned sdist's vendored tree (:mod:`tokprobe.models.llamacpp_tools`, minutes).

Each tool runs as a child process and is measured the same way: wall time, and peak RSS from the child's
``wait4`` rusage (its process tree; llama.cpp's peak is the largest of its four passes). Printed: the
agreement per variant (mean KL relative difference, same-top-1 difference in percentage points, PPL
relative difference; whether both tools scored the same tokens) and the ratios tokprobe / llama.cpp of
wall time, of CPU time and of peak RSS. Targets: wall <= 0.7, RSS <= 1.0, |KL| <= 2 %, |top-1| <= 0.5 pp,
|PPL| <= 0.5 %.

llama-perplexity runs with ``-fa off`` by default: tokprobe decodes without flash attention (on CPU it
makes logits depend on the batch shape), and llama.cpp's default ``-fa auto`` turns it on, which moves
PPL(Q8_0) by about 0.5 %. With ``-fa off`` both tools compute the same logits: PPL(Q) agrees to the six
decimals llama-perplexity prints, whatever its ``-b``. ``--llama-args ''`` runs llama.cpp's defaults.

    python benchmarks/bench_vs_llamacpp.py [--quick] [--chunks 16] [--ctx 512] [--threads N]
        [--reference gemma3-270m-F16] [--variants Q8_0,Q4_0,Q2_K] [--batch 512] [--llama-args "-fa off"]
        [--repeats 1]

Once (untimed) llama.cpp's reference file is also read back by ``tokprobe compare --kld-base`` for the
middle variant, whose mean KL should then match llama.cpp's (``--no-roundtrip`` skips it). The last line
is one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STDLIB_MODULES = ("argparse", "ast", "dataclasses", "enum", "functools", "inspect", "subprocess", "typing")
TARGETS = {"wall_ratio": 0.7, "rss_ratio": 1.0, "kl_rel": 0.02, "top1_pp": 0.5, "ppl_rel": 0.005}


def write_text(dest: Path) -> Path:
    """The eight stdlib modules of this Python, concatenated (one text, as llama-perplexity reads it)."""
    parts = []
    for name in STDLIB_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise SystemExit(f"stdlib module {name} not found")
        parts.append(Path(spec.origin).read_text(encoding="utf-8"))
    dest.write_text("\n".join(parts), encoding="utf-8")
    return dest


def ensure_model(name: str) -> Path:
    """A model name or path; ladder names of the default model are quantized on first use."""
    from tokprobe import models

    try:
        p = Path(models.resolve(name))
        if p.exists():
            return p
    except Exception:  # not built yet: make it below
        pass
    split = models.split_ladder_name(name)
    if split is None:
        raise SystemExit(f"unknown model {name!r}")
    return Path(next(iter(models.ladder(split[0], types=[split[1]]).values())))


def child_env() -> dict[str, str]:
    """The environment of both tools' children. OpenMP threads wait passively between graphs, as tokprobe
    sets for itself: with GOMP's default spinning, a busy machine inflates llama.cpp's times instead."""
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def run_measured(cmd: list[str], log: Path) -> dict[str, Any]:
    """Run ``cmd`` as a child (output to ``log``): wall seconds, CPU seconds (user + system) and peak RSS
    (KiB) of its process tree, from the child's own rusage."""
    with log.open("wb") as fh:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=child_env())
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise SystemExit(f"{Path(cmd[0]).name} exited {p.returncode}:\n" + "\n".join(tail))
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "maxrss_kb": int(ru.ru_maxrss)}


def _grab(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    if m is None:
        raise SystemExit(f"llama-perplexity output lacks {pattern!r}")
    return float(m.group(1))


def roundtrip(ref: Path, variant: Path, base: Path, text: Path, work: Path, ctx: int, chunks: int,
              threads: int) -> dict[str, Any]:
    """``tokprobe compare --kld-base``: llama.cpp's reference file read back as the reference of one variant."""
    out = work / "roundtrip.json"
    cmd = [sys.executable, "-m", "tokprobe", "compare", str(ref), str(variant), "--kld-base", str(base),
           "--corpus", str(text), "--scheme", "llama", "-c", str(ctx), "--max-tokens", str(ctx * chunks),
           "-t", str(threads), "--run-dir", str(work / "rt-run"), "--cache-dir", str(work / "rt-cache"), "--fresh",
           "--no-floor", "--no-progress", "--breakdown", "none", "--format", "json", "--out", str(out)]
    m = run_measured(cmd, work / "roundtrip.log")
    row = json.loads(out.read_text())[0]
    return {"variant": variant.stem, "kl_mean": float(row["kl_mean"]), "same_top1": float(row["same_top1"]),
            "wall_s": m["wall_s"]}


def run_llama(tool: Path, ref: Path, variants: list[Path], text: Path, work: Path, ctx: int, chunks: int,
              threads: int, extra: list[str], rt: bool = False) -> dict[str, Any]:
    """The base pass and one --kl-divergence pass per variant; per pass wall/RSS, parsed statistics."""
    base = work / "base.kld"
    common = ["-c", str(ctx), "--chunks", str(chunks), "-t", str(threads), *extra]
    passes = [run_measured([str(tool), "-m", str(ref), "-f", str(text), "--kl-divergence-base", str(base), *common],
                           work / "llama-base.log")]
    out: dict[str, Any] = {"base_ppl": _grab(r"Final estimate: PPL = ([0-9.]+)",
                                             (work / "llama-base.log").read_text(errors="replace")),
                           "base_file_bytes": base.stat().st_size, "variants": {}}
    for v in variants:
        log = work / f"llama-{v.stem}.log"
        passes.append(run_measured([str(tool), "-m", str(v), "--kl-divergence-base", str(base), "--kl-divergence",
                                    *common], log))
        t = log.read_text(errors="replace")
        out["variants"][v.stem] = {"kl_mean": _grab(r"Mean\s+KLD:\s+([0-9.eE+-]+)", t),
                                   "same_top1": _grab(r"Same top p:\s+([0-9.]+)", t) / 100.0,
                                   "ppl_var": _grab(r"Mean PPL\(Q\)\s+:\s+([0-9.]+)", t),
                                   "ppl_ref": _grab(r"Mean PPL\(base\)\s+:\s+([0-9.]+)", t)}
    out["passes"] = passes
    out["wall_s"] = sum(p["wall_s"] for p in passes)
    out["cpu_s"] = sum(p["cpu_s"] for p in passes)
    out["maxrss_kb"] = max(p["maxrss_kb"] for p in passes)
    out["tokens"] = base_file_tokens(base)
    if rt:  # not timed with the passes: a check of tokprobe's reader of llama.cpp's reference file
        v = variants[len(variants) // 2]
        r = roundtrip(ref, v, base, text, work, ctx, chunks, threads)
        r["kl_llama"] = out["variants"][v.stem]["kl_mean"]
        r["kl_rel"] = (r["kl_mean"] - r["kl_llama"]) / r["kl_llama"]
        out["roundtrip"] = r
    base.unlink()  # 2 x vocab bytes per scored token: do not leave it in the temp dir
    return out


def base_file_tokens(path: Path) -> list[int]:
    """The token ids stored in llama.cpp's --kl-divergence-base file header."""
    import numpy as np

    with path.open("rb") as f:
        head = f.read(20)
        if head[:8] != b"_logits_":
            raise SystemExit(f"{path}: not a llama.cpp logits file")
        n_ctx, _n_vocab, n_chunk = np.frombuffer(head[8:20], dtype="<i4").tolist()
        return np.frombuffer(f.read(4 * n_ctx * n_chunk), dtype="<i4").tolist()


def run_tokprobe(ref: Path, variants: list[Path], text: Path, work: Path, ctx: int, chunks: int, threads: int,
                 batch: int | None) -> dict[str, Any]:
    """One ``tokprobe compare --scheme llama`` over the same text and chunks (lock-step, no floor check)."""
    summary = work / "summary.json"
    cmd = [sys.executable, "-m", "tokprobe", "compare", str(ref), *map(str, variants), "--corpus", str(text),
           "--scheme", "llama", "--mode", "lockstep", "-c", str(ctx), "--max-tokens", str(ctx * chunks),
           "-t", str(threads), "--run-dir", str(work / "run"), "--cache-dir", str(work / "cache"), "--fresh",
           "--no-floor", "--no-progress", "--breakdown", "none", "--format", "json", "--out", str(summary)]
    if batch is not None:
        cmd += ["--batch", str(batch)]
    out = run_measured(cmd, work / "tokprobe.log")
    rows = json.loads(summary.read_text())
    rows = rows if isinstance(rows, list) else rows.get("rows", rows.get("data", []))
    out["variants"] = {Path(str(r["variant"])).stem: {k: float(r[k]) for k in
                                                     ("kl_mean", "same_top1", "ppl_var", "ppl_ref", "n_tokens")}
                       for r in rows}
    return out


def stream_tokens(ref: Path, text: Path, n: int) -> list[int]:
    """The first ``n`` ids of tokprobe's token stream of ``text`` (BOS + the text), as compare builds it."""
    from tokprobe import models
    from tokprobe.compare.stream import build_stream
    from tokprobe.corpus import load_corpus

    with models.load(str(ref), vocab_only=True) as m:
        ids = build_stream(load_corpus(str(text)).files, m, m.vocab, max_tokens=n).ids
    return [int(x) for x in ids[:n]]


def agreement(llama: dict[str, Any], tok: dict[str, Any]) -> dict[str, dict[str, float]]:
    out = {}
    for name, lv in llama["variants"].items():
        tv = tok["variants"][name]
        out[name] = {"kl_llama": lv["kl_mean"], "kl_tokprobe": tv["kl_mean"],
                     "kl_rel": (tv["kl_mean"] - lv["kl_mean"]) / lv["kl_mean"],
                     "top1_llama": lv["same_top1"], "top1_tokprobe": tv["same_top1"],
                     "top1_pp": 100.0 * (tv["same_top1"] - lv["same_top1"]),
                     "ppl_llama": lv["ppl_var"], "ppl_tokprobe": tv["ppl_var"],
                     "ppl_rel": (tv["ppl_var"] - lv["ppl_var"]) / lv["ppl_var"],
                     "n_tokens": tv["n_tokens"]}
    return out


def _print(result: dict[str, Any]) -> None:
    ll, tp = result["llama_cpp"], result["tokprobe"]
    print(f"bench_vs_llamacpp: {result['reference']} vs {', '.join(result['variants'])}; -c {result['n_ctx']}, "
          f"{result['chunks']} chunks, {result['threads']} threads, same tokens: {result['same_tokens']}")
    walls = " + ".join(f"{p['wall_s']:.1f}" for p in ll["passes"])
    print(f"  llama-perplexity (base + {len(ll['passes']) - 1} KL passes)  wall {ll['wall_s']:7.1f} s ({walls})  "
          f"peak RSS {ll['maxrss_kb'] / 2**20:.2f} GiB  reference file {ll['base_file_bytes'] / 1e9:.2f} GB")
    print(f"  tokprobe compare --scheme llama        wall {tp['wall_s']:7.1f} s  "
          f"peak RSS {tp['maxrss_kb'] / 2**20:.2f} GiB  reference file 0")
    print(f"  ratio tokprobe / llama.cpp: wall {result['wall_ratio']:.3f} (target <= {TARGETS['wall_ratio']}), "
          f"peak RSS {result['rss_ratio']:.3f} (target <= {TARGETS['rss_ratio']}), CPU time {result['cpu_ratio']:.3f} "
          f"({tp['cpu_s']:.1f} / {ll['cpu_s']:.1f} s)")
    print(f"  {'variant':<22} {'KL llama':>10} {'KL tokprobe':>12} {'rel':>8} {'top-1 pp':>9} {'PPL rel':>8}")
    for name, a in result["agreement"].items():
        print(f"  {name:<22} {a['kl_llama']:>10.6f} {a['kl_tokprobe']:>12.6f} {100 * a['kl_rel']:>7.3f}% "
              f"{a['top1_pp']:>+9.3f} {100 * a['ppl_rel']:>7.3f}%")
    rt = result.get("reference_file_roundtrip")
    if rt:
        print(f"  llama.cpp's reference file read by tokprobe compare --kld-base, {rt['variant']}: mean KL "
              f"{rt['kl_mean']:.6f} vs llama.cpp {rt['kl_llama']:.6f} ({100 * rt['kl_rel']:+.3f}%)")
    print(f"  targets met: {result['targets_met']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", default="gemma3-270m-F16")
    ap.add_argument("--variants", default="Q8_0,Q4_0,Q2_K", help="ladder types of the default model, or paths")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=None, help="default 16 (--quick: 4)")
    ap.add_argument("--threads", type=int, default=None, help="default: all available cores")
    ap.add_argument("--batch", type=int, default=None, help="tokprobe's --batch (default: its CLI default)")
    ap.add_argument("--llama-args", default="-fa off",
                    help="extra llama-perplexity arguments (default '-fa off', as tokprobe; '' for its defaults)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="run both tools this many times, alternating, and keep each tool's fastest run "
                         "(robust to other load on the machine)")
    ap.add_argument("--no-roundtrip", action="store_true",
                    help="skip reading llama.cpp's reference file back with tokprobe compare --kld-base")
    ap.add_argument("--quick", action="store_true", help="4 chunks")
    a = ap.parse_args(argv)

    from tokprobe.models.llamacpp_tools import build_tools
    from tokprobe.provenance import available_cores

    tools = build_tools()  # once: reused from the tokprobe cache afterwards
    threads = a.threads or available_cores()
    chunks = a.chunks or (4 if a.quick else 16)
    ref = ensure_model(a.reference)
    base = a.reference.rsplit("-", 1)[0]
    variants = [ensure_model(v if ("/" in v or v.endswith(".gguf")) else f"{base}-{v}")
                for v in a.variants.split(",") if v.strip()]
    with tempfile.TemporaryDirectory(prefix="tokprobe-vs-llama-") as d:
        work = Path(d)
        text = write_text(work / "stdlib8.py")
        runs: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for i in range(max(1, a.repeats)):
            runs.append((run_llama(tools["llama-perplexity"], ref, variants, text, work, a.ctx, chunks, threads,
                                   shlex.split(a.llama_args), rt=i == 0 and not a.no_roundtrip),
                         run_tokprobe(ref, variants, text, work, a.ctx, chunks, threads, a.batch)))
        rt = runs[0][0].get("roundtrip")
        llama = min((r[0] for r in runs), key=lambda x: x["wall_s"])
        tok = min((r[1] for r in runs), key=lambda x: x["wall_s"])
        same_tokens = stream_tokens(ref, text, a.ctx * chunks) == llama.pop("tokens")
    agree = agreement(llama, tok)
    wall_ratio, rss_ratio = tok["wall_s"] / llama["wall_s"], tok["maxrss_kb"] / llama["maxrss_kb"]
    cpu_ratio = tok["cpu_s"] / llama["cpu_s"]
    met = (wall_ratio <= TARGETS["wall_ratio"] and rss_ratio <= TARGETS["rss_ratio"]
           and all(abs(x["kl_rel"]) <= TARGETS["kl_rel"] and abs(x["top1_pp"]) <= TARGETS["top1_pp"]
                   and abs(x["ppl_rel"]) <= TARGETS["ppl_rel"] for x in agree.values()))
    result = {"reference": ref.name, "variants": [v.stem for v in variants], "n_ctx": a.ctx, "chunks": chunks,
              "threads": threads, "tokprobe_batch": a.batch, "llama_args": a.llama_args, "same_tokens": same_tokens,
              "llama_cpp": llama, "tokprobe": tok, "agreement": agree, "wall_ratio": wall_ratio,
              "rss_ratio": rss_ratio, "cpu_ratio": cpu_ratio, "repeats": a.repeats,
              "omp_wait_policy": child_env()["OMP_WAIT_POLICY"], "targets": TARGETS,
              "targets_met": met,
              "reference_file_roundtrip": rt}
    _print(result)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
