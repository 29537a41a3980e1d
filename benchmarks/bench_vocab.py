"""Benchmark of the vocabulary analysis (tokprobe.vocab).

1. Full analysis of the 262,144-token vocabulary of gemma3-270m (loaded vocab_only): token classes,
   keyword coverage in three forms with splits, operators, whitespace runs. Target: < 5 s.
   Baseline in the same process: reading the token table (vocab.token_bytes, first access).
2. Corpus statistics (tokenize + histograms + per-language aggregates) per tokenizer on a corpus of
   real code (CPython standard library, ~4 MB, plus the smoke corpus). Target: >= 1 MB/s per tokenizer.
   Baselines: reading the raw files, and plain tokenization of the same texts.

Prints a table of ratios and, as the last line, one JSON object.
Usage: python benchmarks/bench_vocab.py [--mb 4] [--tokenizers gemma3-270m qwen2 llama-bpe starcoder]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def _fetch_vocabs_if_needed(names):
    from tokprobe.vocab import fetch

    missing = [n for n in names if n != "gemma3-270m" and fetch.vocab_path(n) is None]
    if missing:
        sdist = Path("/tmp/sdist") / fetch.SDIST_FILENAME
        fetch.fetch_vocabs(sdist=sdist if sdist.is_file() else None)


def bench_vocab_analysis(name: str) -> dict:
    from tokprobe import models
    from tokprobe.lexicon import token_classes as classes
    from tokprobe.vocab import analyze

    t0 = time.perf_counter()
    model = models.load(name, vocab_only=True)
    vocab = model.vocab
    t_load = time.perf_counter() - t0

    t0 = time.perf_counter()
    _ = vocab.token_bytes, vocab.pieces
    t_table = time.perf_counter() - t0

    classes.clear_cache()
    t0 = time.perf_counter()
    rep = analyze([vocab], names=[name])
    t_analysis = time.perf_counter() - t0
    return {
        "tokenizer": name,
        "n_vocab": int(vocab.n_vocab),
        "load_s": t_load,
        "token_table_s": t_table,
        "analysis_s": t_analysis,
        "analysis_with_table_s": t_analysis + t_table,
        "ratio_analysis_vs_table": t_analysis / t_table if t_table else None,
        "keyword_rows": int(len(rep.coverage)),
    }


def bench_corpus(names, mb: float) -> tuple[dict, list[dict]]:
    from tokprobe import models
    from tokprobe.corpus import SMOKE_CORPUS, build_corpus, load_corpus
    from tokprobe.lexicon import token_classes as classes
    from tokprobe.vocab import corpus_stats

    with tempfile.TemporaryDirectory(prefix="tokprobe-bench-vocab-") as tmp:
        build_corpus(Path(tmp) / "c", ["stdlib", str(SMOKE_CORPUS)], max_bytes_per_language=int(mb * 1024 * 1024))
        t0 = time.perf_counter()
        corpus = load_corpus(Path(tmp) / "c")  # the texts stay in memory
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        n_raw = sum(len(p.read_bytes()) for p in (f.path for f in corpus.files))
        t_read = time.perf_counter() - t0
    info = {"files": len(corpus.files), "n_bytes": corpus.n_bytes, "languages": corpus.languages,
            "load_corpus_s": t_load, "raw_read_s": t_read, "raw_read_mb_s": n_raw / 1e6 / t_read}
    rows = []
    for name in names:
        from tokprobe.vocab import fetch

        target = fetch.vocab_path(name) or name
        vocab = models.load(target, vocab_only=True).vocab
        classes.class_map(vocab)  # classification is per vocabulary, measured in part 1
        t0 = time.perf_counter()
        n_tok = 0
        for f in corpus.files:
            n_tok += len(vocab.tokenize(f.text, add_bos=False))
        t_tok = time.perf_counter() - t0
        t0 = time.perf_counter()
        cs = corpus_stats(vocab, corpus)
        t_stats = time.perf_counter() - t0
        mbs = corpus.n_bytes / 1e6 / t_stats
        rows.append({
            "tokenizer": name, "n_tokens": n_tok, "tokenize_s": t_tok, "stats_s": t_stats,
            "stats_mb_s": mbs, "tokenize_mb_s": corpus.n_bytes / 1e6 / t_tok,
            "ratio_stats_vs_tokenize": t_stats / t_tok, "ratio_stats_vs_raw_read": t_stats / t_read,
            "histogram": cs.settings["histogram"], "threads": cs.settings["threads"],
            "bytes_per_token": corpus.n_bytes / n_tok,
        })
    return info, rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=4.0, help="MB of Python from the standard library (default 4)")
    ap.add_argument("--tokenizers", nargs="+", default=["gemma3-270m", "qwen2", "llama-bpe", "starcoder"])
    args = ap.parse_args(argv)
    _fetch_vocabs_if_needed(args.tokenizers)

    v = bench_vocab_analysis("gemma3-270m")
    print(f"vocab analysis, gemma3-270m ({v['n_vocab']:,} tokens)")
    print(f"  load (vocab_only)         {v['load_s']:7.2f} s")
    print(f"  token table (baseline)    {v['token_table_s']:7.2f} s")
    print(f"  analysis                  {v['analysis_s']:7.2f} s  = "
          f"{v['ratio_analysis_vs_table']:.1f}x the token table read")
    print(f"  analysis + token table    {v['analysis_with_table_s']:7.2f} s  (target < 5 s)")

    info, rows = bench_corpus(args.tokenizers, args.mb)
    print(f"\ncorpus: {info['files']} files, {info['n_bytes'] / 1e6:.2f} MB, "
          f"raw read {info['raw_read_mb_s']:.0f} MB/s")
    print(f"  {'tokenizer':<14}{'tokenize MB/s':>14}{'stats MB/s':>12}{'x tokenize':>12}"
          f"{'x raw read':>12}{'bytes/tok':>11}")
    for r in rows:
        print(f"  {r['tokenizer']:<14}{r['tokenize_mb_s']:>14.2f}{r['stats_mb_s']:>12.2f}"
              f"{r['ratio_stats_vs_tokenize']:>12.2f}{r['ratio_stats_vs_raw_read']:>12.1f}{r['bytes_per_token']:>11.2f}")
    ok_vocab = v["analysis_with_table_s"] < 5.0
    ok_corpus = all(r["stats_mb_s"] >= 1.0 for r in rows)
    print(f"\n(corpus stats tokenize files on {rows[0].get('threads', '?')} threads; "
          "'x tokenize' is against a serial loop)")
    print(f"vocab analysis < 5 s: {'PASS' if ok_vocab else 'FAIL'}; "
          f"corpus stats >= 1 MB/s: {'PASS' if ok_corpus else 'FAIL'}")
    from tokprobe.provenance import hardware

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(json.dumps({"benchmark": "vocab", "vocab_analysis": v, "corpus": info, "corpus_stats": rows,
                      "pass": {"vocab_analysis_lt_5s": ok_vocab, "corpus_ge_1mb_s": ok_corpus},
                      "hardware": hardware(), "load_average": load}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
