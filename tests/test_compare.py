"""tokprobe.compare on tiny generated models: statistics against float64 numpy, resume, caches, errors."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tokprobe.errors import EmptyInputError, VocabMismatchError

N_CTX = 64
MAX_TOKENS = 64 * 5 + 10  # five llama windows
PY = '''import os
import sys


def read_config(path, default=None):
    """Read a key=value config file into a dict."""
    result = {}
    if not os.path.exists(path):
        return default or {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue  # comments and blank lines
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip()
    return result


class Counter:
    def __init__(self, start=0):
        self.value = start

    def add(self, n=1):
        self.value += n
        return self.value
'''
C_SRC = '''#include <stdio.h>
#include <stdlib.h>

/* Sum the integers given on the command line. */
int main(int argc, char **argv) {
    long total = 0;
    for (int i = 1; i < argc; i++) {
        total += strtol(argv[i], NULL, 10);
    }
    printf("%ld\\n", total);
    return 0;
}
'''
JS = '''// Debounce a function: call it once the calls stop for `ms` milliseconds.
export function debounce(fn, ms = 100) {
  let timer = null;
  return (...args) => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
'''


def _write_swapped_vocab_model(d: Path, model: Path) -> Path:
    """A tiny model whose vocabulary swaps the texts of tokens 1000 and 1001 (same size, other texts)."""
    from tokprobe.testing import make_tiny_model, write_tokenizer_variant

    def swap(texts: list) -> list:
        texts[1000], texts[1001] = texts[1001], texts[1000]
        return texts

    src = write_tokenizer_variant(model, d / "tok-swapped.gguf", tokens=swap)
    return make_tiny_model(d / "tiny-swapped.gguf", tokenizer_from=src, seed=0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tokprobe.models import quantize
    from tokprobe.testing import make_tiny_model

    d = tmp_path_factory.mktemp("compare")
    f16 = make_tiny_model(d / "tiny-F16.gguf", seed=0)
    q8 = quantize(f16, "Q8_0", d / "tiny-Q8_0.gguf")
    q4 = quantize(f16, "Q4_K_M", d / "tiny-Q4_K_M.gguf")
    corpus = d / "corpus"
    corpus.mkdir()
    (corpus / "config.py").write_text(PY)
    (corpus / "sum.c").write_text(C_SRC)
    (corpus / "debounce.js").write_text(JS)
    return SimpleNamespace(dir=d, f16=f16, q8=q8, q4=q4, corpus=corpus)


def _run(tiny, variants, run_dir, **kw):
    from tokprobe.compare import compare

    kw.setdefault("scheme", "llama")  # the numbers below are llama.cpp's scheme's (the default is 'file')
    kw.setdefault("n_ctx", N_CTX)
    kw.setdefault("max_tokens", MAX_TOKENS)
    kw.setdefault("cache_dir", tiny.dir / "refcache")
    return compare(tiny.f16, variants, tiny.corpus, run_dir=run_dir, **kw)


@pytest.fixture(scope="module")
def lockstep(tiny):
    return _run(tiny, [tiny.q8, tiny.q4], tiny.dir / "run-lockstep")


# -- float64 numpy recomputation from dumped logits ----------------------------------------------------
def _dump_logits(path: Path, ids: np.ndarray, scheme="llama", stride=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from tokprobe.models import load

    with load(path, n_ctx=N_CTX, n_batch=N_CTX) as m:
        parts, pos, tgt = [], [], []
        kw = {"stride": stride} if stride else {}
        for b in m.evaluate(ids, n_ctx=N_CTX, batch=N_CTX, scheme=scheme, **kw):
            parts.append(np.array(b.logits, dtype=np.float32))
            pos.append(np.array(b.positions))
            tgt.append(np.array(b.targets))
    return np.concatenate(parts), np.concatenate(pos), np.concatenate(tgt)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))


def _topk_sets(lp: np.ndarray, k: int) -> np.ndarray:
    ids = np.broadcast_to(np.arange(lp.shape[1]), lp.shape)
    return np.lexsort((ids, -lp), axis=1)[:, :k]


def _numpy_tokens(ref_logits, var_logits, targets) -> dict[str, np.ndarray]:
    lp, lq = _log_softmax(ref_logits), _log_softmax(var_logits)
    p, q = np.exp(lp), np.exp(lq)
    lm = np.log(0.5 * (p + q))
    r = np.arange(len(lp))
    def ov(a, b):
        return (a[:, :, None] == b[:, None, :]).any(2).sum(1) / a.shape[1]

    tp, tq = _topk_sets(lp, 10), _topk_sets(lq, 10)
    return {
        "kl": (p * (lp - lq)).sum(1),
        "kl_reverse": (q * (lq - lp)).sum(1),
        "js": 0.5 * (p * (lp - lm)).sum(1) + 0.5 * (q * (lq - lm)).sum(1),
        "entropy_ref": -(p * lp).sum(1),
        "entropy_var": -(q * lq).sum(1),
        "logp_ref": lp[r, targets],
        "logp_var": lq[r, targets],
        "argmax_ref": lp.argmax(1),
        "argmax_var": lq.argmax(1),
        "top5_overlap": ov(tp[:, :5], tq[:, :5]),
        "top10_overlap": ov(tp, tq),
    }


def _llama(x):
    """perplexity.cpp's mean_and_uncertainty, from sums."""
    n = len(x)
    f = x.sum() / n
    v = (x * x).sum() / n - f * f
    return f, (math.sqrt(v / (n - 1)) if v > 0 and n > 10 else 0.0)


@pytest.fixture(scope="module")
def dumped(tiny, lockstep):
    ids = lockstep.stream.ids
    ref, pos, tgt = _dump_logits(tiny.f16, ids)
    out = {}
    for name, path in (("tiny-Q8_0", tiny.q8), ("tiny-Q4_K_M", tiny.q4)):
        var, pos_v, _ = _dump_logits(path, ids)
        assert np.array_equal(pos, pos_v)
        out[name] = _numpy_tokens(ref, var, tgt)
        out[name]["positions"] = pos
        out[name]["_logits"] = (ref, var, tgt)
    return out


def test_per_token_values_equal_numpy(lockstep, dumped):
    assert lockstep.variants == ["tiny-Q8_0", "tiny-Q4_K_M"]
    t = lockstep.tokens
    for v, want in dumped.items():
        got = t[t.variant == v]
        want = {k: x for k, x in want.items() if not k.startswith("_")}
        assert np.array_equal(got["position"].to_numpy() - 1, want["positions"])
        for col in ("kl", "kl_reverse", "js", "entropy_ref", "entropy_var", "logp_ref", "logp_var",
                    "top5_overlap", "top10_overlap"):
            np.testing.assert_allclose(got[col].to_numpy(), want[col], rtol=1e-6, atol=1e-9, err_msg=f"{v} {col}")
        for col in ("argmax_ref", "argmax_var"):
            assert np.array_equal(got[col].to_numpy(), want[col]), col
        np.testing.assert_allclose(got["dp"], np.exp(want["logp_var"]) - np.exp(want["logp_ref"]),
                                   rtol=1e-6, atol=1e-10)


def test_summary_statistics_equal_numpy(lockstep, dumped):
    sm = lockstep.summary.set_index("variant")
    for v, w in dumped.items():
        r = sm.loc[v]
        n = len(w["kl"])
        nll_q, nll_p = -w["logp_var"], -w["logp_ref"]
        m_q, e_q = _llama(nll_q)
        m_p, e_p = _llama(nll_p)
        cov = ((nll_q * nll_p).sum() / n - m_q * m_p) / (n - 1)
        def approx(x):
            return pytest.approx(x, rel=1e-6, abs=1e-9)

        assert r["n_tokens"] == n
        assert r["ppl_var"] == approx(math.exp(m_q)) and r["ppl_var_err"] == approx(math.exp(m_q) * e_q)
        assert r["ppl_ref"] == approx(math.exp(m_p)) and r["ppl_ref_err"] == approx(math.exp(m_p) * e_p)
        assert r["nll_corr"] == approx(np.corrcoef(nll_q, nll_p)[0, 1])
        assert r["ln_ppl_ratio"] == approx(m_q - m_p)
        assert r["ln_ppl_ratio_err"] == approx(math.sqrt(e_q**2 + e_p**2 - 2 * cov))
        assert r["ppl_ratio"] == approx(math.exp(m_q - m_p))
        assert r["ppl_diff"] == approx(math.exp(m_q) - math.exp(m_p))
        kl_m, kl_e = _llama(w["kl"])
        assert r["kl_mean"] == approx(kl_m) and r["kl_err"] == approx(kl_e)
        for name, q in (("max", 100), ("p99.9", 99.9), ("p99", 99), ("p95", 95), ("p90", 90), ("median", 50),
                        ("p10", 10), ("p5", 5), ("p1", 1), ("p0.1", 0.1), ("min", 0)):
            assert r[f"kl_{name}"] == approx(np.percentile(w["kl"], q)), name
        dp = np.exp(-nll_q) - np.exp(-nll_p)
        dp_m, dp_e = _llama(dp)
        assert r["dp_mean"] == approx(dp_m) and r["dp_err"] == approx(dp_e)
        for name, q in (("max", 100), ("p75", 75), ("median", 50), ("p25", 25), ("min", 0)):
            assert r[f"dp_{name}"] == approx(np.percentile(dp, q)), name
        msq, msq_e = _llama(dp * dp)
        assert r["dp_rms"] == approx(math.sqrt(msq)) and r["dp_rms_err"] == approx(0.5 / math.sqrt(msq) * msq_e)
        same = np.mean(w["argmax_ref"] == w["argmax_var"])
        assert r["same_top1"] == approx(same)
        assert r["same_top1_err"] == approx(math.sqrt(same * (1 - same) / (n - 1)))
        assert r["kl_reverse_mean"] == approx(w["kl_reverse"].mean())
        assert r["js_mean"] == approx(w["js"].mean())
        assert r["entropy_ref_mean"] == approx(w["entropy_ref"].mean())
        assert r["entropy_var_mean"] == approx(w["entropy_var"].mean())
        assert r["top5_agreement"] == approx(w["top5_overlap"].mean())
        assert r["top10_agreement"] == approx(w["top10_overlap"].mean())
        t = lockstep.tokens[lockstep.tokens.variant == v]
        nbytes = t["n_bytes"].sum()
        assert nbytes > 0
        assert r["bpb_ref"] == approx(nll_p.sum() / math.log(2) / nbytes)
        assert r["bpb_var"] == approx(nll_q.sum() / math.log(2) / nbytes)
        # provenance columns
        assert r["n_ctx"] == N_CTX and r["scheme"] == "llama" and len(r["ref_sha256"]) == 64
        assert r["kl_bound"] == 0.0


def _llama_cpp_kld(ref_logits, var_logits, targets):
    """llama.cpp's --kl-divergence arithmetic (facts of tools/perplexity/perplexity.cpp, rewritten):
    the base row is stored as uint16 steps over [max - 16, max] of the logits (plus scale and minimum),
    KL sums only base log-probs above -16, nll_base comes from the stored row, top-1 is compared."""
    kl, nll_base, nll, same = [], [], [], []
    for lr, lv, t in zip(ref_logits.astype(np.float32), var_logits.astype(np.float32), targets, strict=True):
        mx, mn = lr.max(), max(lr.min(), lr.max() - 16)
        lse = np.log(np.exp((lr - mx).astype(np.float64)).sum())
        scale = (mx - mn) / 65535.0
        q = np.where(lr > mn, np.floor((lr - mn) / scale + 0.5), 0.0)
        base = scale * q + (mn - mx - lse)
        lq = _log_softmax(lv[None])[0]
        keep = base > -16
        kl.append(float((np.exp(base[keep]) * (base[keep] - lq[keep])).sum()))
        nll_base.append(-base[t])
        nll.append(-lq[t])
        same.append(int(np.argmax(base)) == int(np.argmax(lv)))
    return np.array(kl), np.array(nll_base), np.array(nll), np.array(same)


def test_agrees_with_llama_cpp_kl_divergence_arithmetic(lockstep, dumped):
    sm = lockstep.summary.set_index("variant")
    for v, w in dumped.items():
        kl, nll_base, nll, same = _llama_cpp_kld(*w["_logits"])
        r = sm.loc[v]
        # llama.cpp's 16-bit base is accurate to ~1e-4 in log-prob: our exact values agree to that order
        assert r["kl_mean"] == pytest.approx(kl.mean(), rel=1e-2, abs=2e-4)
        assert r["ppl_ref"] == pytest.approx(math.exp(nll_base.mean()), rel=1e-3)
        assert r["ppl_var"] == pytest.approx(math.exp(nll.mean()), rel=1e-6)
        assert abs(r["same_top1"] - same.mean()) <= 2 / len(same)


def test_bytes_of_scored_tokens_match_source_text(lockstep, tiny):
    t = lockstep.tokens[lockstep.tokens.variant == "tiny-Q8_0"]
    files = {p.name: p.read_bytes() for p in tiny.corpus.iterdir()}
    from tokprobe.models import load

    with load(tiny.f16, vocab_only=True) as m:
        tb = m.vocab.token_bytes
        for r in t.head(60).itertuples():
            data = files[Path(r.file).name]
            assert data[r.byte_start:r.byte_start + r.n_bytes] == tb[r.token_id]


def test_self_floor_is_exactly_zero(lockstep):
    assert lockstep.floor["self_kl_max"] == 0.0
    assert lockstep.floor["self_tokens"] > 0
    assert (lockstep.summary["self_kl_max"] == 0.0).all()


def test_breakdowns_partition_the_tokens(lockstep):
    n = lockstep.summary.set_index("variant")["n_tokens"]
    for by in ("class", "language", "entropy", "file"):
        b = lockstep.breakdown(by)
        for v in lockstep.variants:
            bv = b[b.variant == v]
            assert bv["n_tokens"].sum() == n[v], by
            assert bv["kl_share"].sum() == pytest.approx(1.0)
            assert bv["share_tokens"].sum() == pytest.approx(1.0)
    cls = lockstep.breakdown("class")
    t = lockstep.tokens
    for r in cls.itertuples():
        sel = t[(t.variant == r.variant) & (t["class"] == r._2)]
        assert r.kl_mean == pytest.approx(sel.kl.mean())
    assert set(lockstep.breakdown("language")["language"]) <= {"python", "c", "javascript"}
    assert {"keyword", "identifier", "operator", "whitespace"} <= set(cls["class"])


INTERVAL_MEANS = ("kl_mean", "kl_upper_mean", "kl_reverse_mean", "js_mean", "dp_mean", "same_top1", "top5_agreement",
                  "top10_agreement", "ln_ppl_ratio", "ppl_ratio", "bpb_ref", "bpb_var")


def test_summary_and_breakdowns_carry_file_bootstrap_intervals(lockstep):
    from tokprobe.bootstrap import FileBootstrap

    sm = lockstep.summary.set_index("variant")
    t = lockstep.tokens
    for v in lockstep.variants:
        r, tv = sm.loc[v], t[t.variant == v]
        assert r["n_files"] == tv["file"].nunique() >= 2 and r["n_invalid"] == 0
        for name in INTERVAL_MEANS:
            assert r[f"{name}_lo"] <= r[f"{name}_hi"], name
        # the interval is the file bootstrap of the per-token KL, with the recorded seed and B
        files = lockstep.stream.file[tv["position"].to_numpy()]
        iv = FileBootstrap(files, n_boot=r["bootstrap_b"], seed=r["bootstrap_seed"]).mean(tv["kl"].to_numpy())
        assert (r["kl_mean_lo"], r["kl_mean_hi"]) == (iv.lo, iv.hi)
        assert iv.lo <= r["kl_mean"] <= iv.hi
        assert r["too_few"] == (r["n_tokens"] < 200 or r["n_files"] < 3)
    assert lockstep.provenance.settings["bootstrap"]["n_boot"] == 1000
    assert lockstep.provenance.settings["bootstrap"]["unit"] == "file"
    for by in ("class", "language", "entropy"):
        b = lockstep.breakdown(by)
        for col in ("kl_mean_lo", "kl_mean_hi", "same_top1_lo", "same_top1_hi", "n_tokens", "n_files", "too_few"):
            assert col in b.columns, (by, col)
        assert ((b["n_tokens"] < 200) | (b["n_files"] < 3) == b["too_few"]).all()
        both = b.dropna(subset=["kl_mean_lo"])
        assert (both["kl_mean_lo"] <= both["kl_mean_hi"]).all() and (both["n_files"] >= 2).all()
    lang = lockstep.breakdown("language")
    assert (lang["n_files"] == 1).all() and lang["too_few"].all()  # one file per language in this corpus
    table = lockstep.report_table().set_index("statistic")
    assert table.loc["files scored", "tiny-Q8_0"] == str(int(sm.loc["tiny-Q8_0", "n_files"]))
    assert table.loc["Mean KLD 95% CI (files resampled)", "tiny-Q8_0"].startswith("[")


def test_pairwise_difference_is_paired_over_the_same_files(lockstep):
    from tokprobe.errors import InputError

    pw = lockstep.pairwise("kl_mean")
    assert len(pw) == 1
    r = pw.iloc[0]
    sm = lockstep.summary.set_index("variant")
    assert (r.variant_a, r.variant_b) == ("tiny-Q8_0", "tiny-Q4_K_M")
    assert r["diff"] == pytest.approx(sm.loc["tiny-Q8_0", "kl_mean"] - sm.loc["tiny-Q4_K_M", "kl_mean"], rel=1e-9)
    assert r.diff_lo <= r.diff_hi and r.n_tokens == sm.loc["tiny-Q8_0", "n_tokens"]
    assert r.excludes_zero == (r.diff_lo > 0 or r.diff_hi < 0)
    assert (lockstep.run_dir / "pairwise-kl.csv").exists()
    with pytest.raises(InputError):
        lockstep.pairwise("kl_p99")


def test_one_non_finite_row_is_excluded_and_counted(lockstep):
    import copy

    r = copy.copy(lockstep)
    bad = {v: {k: np.array(x, copy=True) for k, x in a.items()} for v, a in lockstep.per_variant.items()}
    bad["tiny-Q8_0"]["kl"][3] = np.nan
    bad["tiny-Q8_0"]["logp_var"][7] = -np.inf
    r.per_variant, r._summary, r._breakdowns = bad, None, {}
    sm, ok = r.summary.set_index("variant"), lockstep.summary.set_index("variant")
    q8 = sm.loc["tiny-Q8_0"]
    assert q8["n_invalid"] == 2 and q8["n_tokens"] == ok.loc["tiny-Q8_0", "n_tokens"] - 2
    keep = np.ones(len(bad["tiny-Q8_0"]["kl"]), dtype=bool)
    keep[[3, 7]] = False
    assert q8["kl_mean"] == pytest.approx(lockstep.per_variant["tiny-Q8_0"]["kl"][keep].mean(), rel=1e-12)
    numeric = [c for c in sm.columns if c.startswith(("kl_", "ppl_", "dp_", "js_", "bpb_", "same_top1", "ln_ppl"))]
    assert np.isfinite(q8[numeric].to_numpy(dtype=np.float64)).all()
    pd.testing.assert_series_equal(sm.loc["tiny-Q4_K_M"], ok.loc["tiny-Q4_K_M"])  # the other variant is untouched
    for by in ("class", "language", "entropy"):
        b = r.breakdown(by)
        assert np.isfinite(b[["kl_mean", "ppl_var", "same_top1"]].to_numpy(dtype=np.float64)).all(), by
        assert b[b.variant == "tiny-Q8_0"]["n_tokens"].sum() == q8["n_tokens"]
    assert "rows excluded (non-finite)" in set(r.report_table()["statistic"])


def test_results_written_atomically_with_provenance(lockstep):
    from tokprobe import io

    d = lockstep.run_dir
    for name in ("summary.csv", "summary.json", "breakdown-class.csv", "breakdown-language.csv",
                 "breakdown-entropy.csv", "tokens.parquet", "provenance.json", "result.json",
                 "tokenizer-independent.csv"):
        assert (d / name).exists(), name
    assert not list(d.glob(".*.tmp"))
    prov = io.read_json(d / "provenance.json")
    assert prov["settings"]["n_ctx"] == N_CTX and prov["settings"]["scheme"] == "llama"
    assert prov["settings"]["seed"] == 0 and prov["settings"]["threads_effective"] >= 1
    assert len(prov["models"]["reference"]["sha256"]) == 64
    assert prov["llama_cpp_python_version"] and prov["tokprobe_version"]
    tok = pd.read_parquet(d / "tokens.parquet")
    assert {"position", "token_id", "text", "class", "language", "kl", "dp", "entropy_ref", "entropy_var",
            "argmax_ref", "argmax_var"} <= set(tok.columns)
    assert len(tok) == len(lockstep.tokens)


def test_top_divergent_has_context(lockstep):
    top = lockstep.top_divergent(3)
    assert len(top) == 6
    for r in top.itertuples():
        assert 0 <= r.context_start <= r.context_end <= len(r.context)
    kl = lockstep.tokens.groupby("variant").kl.max()
    assert top.groupby("variant").kl.max().to_dict() == kl.to_dict()
    assert "Mean KLD" in set(lockstep.report_table()["statistic"])


# -- resume ---------------------------------------------------------------------------------------------
class _Stop(Exception):
    pass


def _interrupting(after_windows: int, per_window: int, seen: list[int]):
    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done >= after_windows * per_window and done > seen[0]:
            raise _Stop()

    return progress


def _assert_same(a, b):
    cols = [c for c in a.summary.columns if c not in ("var_sha256",)]
    pd.testing.assert_frame_equal(a.tokens, b.tokens, check_exact=True)
    pd.testing.assert_frame_equal(a.summary[cols], b.summary[cols], check_exact=True)


def test_interrupted_lockstep_run_resumes_to_the_same_result(tiny, lockstep, tmp_path):
    per = N_CTX - 1 - N_CTX // 2
    seen: list[int] = []
    with pytest.raises(_Stop):
        _run(tiny, [tiny.q8, tiny.q4], tmp_path / "run", progress=_interrupting(2, per, seen))
    again: list[int] = []
    resumed = _run(tiny, [tiny.q8, tiny.q4], tmp_path / "run", progress=lambda d, t: again.append(d))
    assert again[0] == 2 * per  # the two finished windows were not decoded again
    _assert_same(resumed, lockstep)


@pytest.mark.parametrize("mode", ["cache-exact", "cache-topk"])
def test_interrupted_cached_runs_resume_to_the_same_result(tiny, tmp_path, mode):
    per = N_CTX - 1 - N_CTX // 2
    kw = dict(mode=mode, topk=16, cache_dir=tmp_path / "cache")
    full = _run(tiny, [tiny.q8], tmp_path / "full", **{**kw, "cache_dir": tmp_path / "cache-full"})
    # interrupt in the reference pass, then in the variant pass (windows 5 + 2 of 10 rows-worth)
    for stop_after in (1, 7):
        seen: list[int] = []
        with pytest.raises(_Stop):
            _run(tiny, [tiny.q8], tmp_path / "run", progress=_interrupting(stop_after, per, seen), **kw)
    resumed = _run(tiny, [tiny.q8], tmp_path / "run", **kw)
    _assert_same(resumed, full)


# -- cached reference modes against lock-step ----------------------------------------------------------------
def test_cache_exact_agrees_with_lockstep_within_its_bound(tiny, lockstep):
    r = _run(tiny, [tiny.q8, tiny.q4], tiny.dir / "run-exact", mode="cache-exact")
    a, b = lockstep.tokens, r.tokens
    assert np.array_equal(a.position, b.position)
    for col in ("logp_ref", "logp_var", "entropy_ref", "argmax_ref", "argmax_var", "dp"):
        assert np.array_equal(a[col].to_numpy(), b[col].to_numpy()), col  # the reference side is exact
    assert (b.kl_lower <= a.kl + 1e-12).all() and (a.kl <= b.kl_upper + 1e-12).all()
    assert (np.abs(a.kl - b.kl) <= 1e-3 * np.maximum(1.0, a.kl)).all()
    sa, sb = lockstep.summary.set_index("variant"), r.summary.set_index("variant")
    for col in ("ppl_ref", "ppl_var", "ln_ppl_ratio", "nll_corr", "dp_mean", "dp_rms", "same_top1", "bpb_var"):
        assert (sa[col] == sb[col]).all(), col
    assert (sb["kl_lower_mean"] <= sa["kl_mean"]).all() and (sa["kl_mean"] <= sb["kl_upper_mean"]).all()
    rc = r.reference_cache
    assert rc["kind"] == "exact"
    from tokprobe.models import load

    with load(tiny.f16, vocab_only=True) as m:
        n_vocab = m.n_vocab
    assert 2 * n_vocab <= rc["bytes_per_token"] <= 2 * n_vocab + 512


def test_cache_topk_agrees_with_lockstep_within_its_bounds(tiny, lockstep):
    r = _run(tiny, [tiny.q8, tiny.q4], tiny.dir / "run-topk", mode="cache-topk", topk=32)
    a, b = lockstep.tokens, r.tokens
    for col in ("logp_ref", "logp_var", "entropy_ref", "entropy_var", "argmax_ref", "argmax_var", "dp"):
        np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy(), rtol=1e-9, atol=1e-12, err_msg=col)
    assert (b.kl == b.kl_lower).all()
    assert (b.kl_lower <= a.kl + 1e-9).all() and (a.kl <= b.kl_upper + 1e-9).all()
    assert (b.kl_reverse <= a.kl_reverse + 1e-9).all() and (b.js <= a.js + 1e-9).all()  # coarse-grained
    np.testing.assert_allclose(a.top10_overlap, b.top10_overlap)
    assert r.reference_cache["bytes_per_token"] < 8 * 32 + 512
    # the conservative end for threshold picks: the upper end of the KL bracket, with its own interval
    sm = r.summary
    assert (sm["kl_mean"] == sm["kl_lower_mean"]).all() and (sm["kl_upper_mean"] >= sm["kl_mean"]).all()
    assert (sm["kl_upper_mean_lo"] <= sm["kl_upper_mean_hi"]).all()
    assert (sm["kl_upper_mean_hi"] >= sm["kl_mean_hi"]).all()
    assert "Mean KLD upper 95% CI (files resampled)" in set(r.report_table()["statistic"])


def test_cached_reference_is_reused_without_loading_the_reference(tiny, tmp_path, monkeypatch):
    import tokprobe.models.handle as models  # the loader compare opens models with

    kw = dict(mode="cache-topk", topk=16, cache_dir=tmp_path / "cache")
    _run(tiny, [tiny.q8], tmp_path / "a", **kw)
    loads = []
    real = models.load

    def spy(spec, *a, **k):
        loads.append((Path(spec).name, bool(k.get("vocab_only"))))
        return real(spec, *a, **k)

    monkeypatch.setattr(models, "load", spy)
    r = _run(tiny, [tiny.q4], tmp_path / "b", **kw)
    assert ("tiny-F16.gguf", False) not in loads
    assert ("tiny-Q4_K_M.gguf", False) in loads
    assert r.floor["self_kl_max"] == 0.0  # recorded with the cache


# -- sliding scheme ----------------------------------------------------------------------------------------
def test_sliding_scheme_scores_every_token_once(tiny, tmp_path):
    r = _run(tiny, [tiny.q8], tmp_path / "run", scheme="sliding", stride=32, max_tokens=200)
    t = r.tokens
    assert list(t.position) == list(range(1, 200))
    ref, pos, tgt = _dump_logits(tiny.f16, r.stream.ids, "sliding", 32)
    var, _, _ = _dump_logits(tiny.q8, r.stream.ids, "sliding", 32)
    np.testing.assert_allclose(t.kl.to_numpy(), _numpy_tokens(ref, var, tgt)["kl"], rtol=1e-6, atol=1e-9)


def test_interrupted_sliding_run_resumes_to_the_same_result(tiny, tmp_path):
    kw = dict(scheme="sliding", stride=32, max_tokens=200)
    full = _run(tiny, [tiny.q8], tmp_path / "full", **kw)
    seen: list[int] = []
    with pytest.raises(_Stop):
        _run(tiny, [tiny.q8], tmp_path / "run", progress=_interrupting(2, 63, seen), **kw)
    _assert_same(_run(tiny, [tiny.q8], tmp_path / "run", **kw), full)


# -- errors ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def swapped(tiny):
    return _write_swapped_vocab_model(tiny.dir, tiny.f16)


def test_vocabulary_mismatch_names_the_first_differing_token(tiny, swapped, tmp_path):
    with pytest.raises(VocabMismatchError, match=r"first differing token 1000"):
        _run(tiny, [tiny.q8, swapped], tmp_path / "run")


def test_different_vocabulary_gets_only_tokenizer_independent_metrics(tiny, swapped, tmp_path):
    r = _run(tiny, [tiny.q8, swapped], tmp_path / "run", allow_different_vocab=True)
    assert r.variants == ["tiny-Q8_0"] and r.different_vocab == ["tiny-swapped"]
    ind = r.tokenizer_independent.set_index("model")
    assert (ind["metric_scope"] == "tokenizer-independent").all()
    assert ind.loc["tiny-swapped", "vocab"] == "different" and ind.loc["tiny-F16", "role"] == "reference"
    # bits per byte of the variant from its own tokenization, recomputed from its logits
    from tokprobe.models import load

    with load(swapped, vocab_only=True) as m:
        from tokprobe.compare.stream import build_stream
        from tokprobe.corpus import load_corpus

        s = build_stream(load_corpus(tiny.corpus).files, m, m.vocab, max_tokens=MAX_TOKENS)
    logits, pos, tgt = _dump_logits(swapped, s.ids)
    lp = _log_softmax(logits)[np.arange(len(tgt)), tgt]
    nbytes = s.n_bytes[pos + 1].sum()
    assert ind.loc["tiny-swapped", "bpb"] == pytest.approx(-lp.sum() / math.log(2) / nbytes, rel=1e-6)
    assert ind.loc["tiny-F16", "bpb"] == pytest.approx(r.summary.loc[0, "bpb_ref"], rel=1e-12)
    shares = ind[[c for c in ind.columns if c.startswith("bits_share_")]].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0)


def test_only_different_vocabulary_variants_in_a_cached_mode(tiny, swapped, tmp_path):
    r = _run(tiny, [swapped], tmp_path / "run", mode="cache-exact", allow_different_vocab=True)
    assert r.variants == [] and r.summary.empty
    ind = r.tokenizer_independent.set_index("model")
    assert list(ind.index) == ["tiny-F16", "tiny-swapped"]
    assert np.isfinite(ind["bpb"]).all() and r.floor["self_kl_max"] == 0.0


def test_empty_and_too_short_corpora_are_clear_errors(tiny, tmp_path):
    from tokprobe.compare import compare

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.py").write_text("")
    with pytest.raises(EmptyInputError):
        compare(tiny.f16, [tiny.q8], empty, n_ctx=N_CTX, run_dir=tmp_path / "r1")
    short = tmp_path / "short"
    short.mkdir()
    (short / "a.py").write_text("x = 1\n")
    with pytest.raises(EmptyInputError, match="n_ctx"):
        compare(tiny.f16, [tiny.q8], short, n_ctx=N_CTX, scheme="llama", run_dir=tmp_path / "r2")


@pytest.mark.parametrize("kind", ["empty", "mismatch"])
def test_cli_errors_exit_2_with_one_line(tiny, swapped, tmp_path, capsys, kind):
    from tokprobe.cli import main

    if kind == "empty":
        d = tmp_path / "empty"
        d.mkdir()
        (d / "a.py").write_text("")
        args = ["compare", str(tiny.f16), str(tiny.q8), "--corpus", str(d)]
    else:
        args = ["compare", str(tiny.f16), str(swapped), "--corpus", str(tiny.corpus)]
    with pytest.raises(SystemExit) as exc:
        main(args + ["--no-progress", "--run-dir", str(tmp_path / "run"), "--ctx", str(N_CTX)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err


def test_cli_prints_the_table_top_tokens_and_dumps_parquet(tiny, tmp_path, capsys):
    from tokprobe.cli import main

    dump = tmp_path / "tokens.parquet"
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(tiny.f16), str(tiny.q8), str(tiny.q4), "--corpus", str(tiny.corpus), "--ctx", str(N_CTX),
              "--max-tokens", str(MAX_TOKENS), "--run-dir", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "c"),
              "--show-top", "2", "--dump", str(dump), "--no-progress"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for text in ("Mean KLD", "Same top p", "Mean PPL(Q)", "99.9% KLD", "RMS Δp", "by class", "by language",
                 "Most divergent tokens", "tiny-Q8_0", "tiny-Q4_K_M"):
        assert text in out, text
    df = pd.read_parquet(dump)
    assert set(df.variant) == {"tiny-Q8_0", "tiny-Q4_K_M"} and len(df) > 0


def test_cli_json_gives_the_full_summary(tiny, tmp_path, capsys):
    import json

    from tokprobe.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["compare", str(tiny.f16), str(tiny.q8), "--corpus", str(tiny.corpus), "--ctx", str(N_CTX),
              "--max-tokens", str(MAX_TOKENS), "--run-dir", str(tmp_path / "run"), "--format", "json", "--no-progress"])
    assert exc.value.code == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["variant"] == "tiny-Q8_0" and rows[0]["kl_mean"] > 0 and rows[0]["n_ctx"] == N_CTX


# -- the real default model --------------------------------------------------------------------------------------
@pytest.mark.integration
def test_real_default_model_small_slice(tmp_path):
    from tokprobe.compare import compare
    from tokprobe.models import quantize

    q8 = quantize("gemma3-270m", "Q8_0", tmp_path / "gemma3-270m-Q8_0.gguf")
    r = compare("gemma3-270m", [q8], None, n_ctx=128, max_tokens=300, run_dir=tmp_path / "run",
                cache_dir=tmp_path / "cache", scheme="llama")
    s = r.summary.iloc[0]
    assert r.floor["self_kl_max"] == 0.0
    assert s["n_tokens"] == 2 * (128 - 1 - 64)
    assert 0.0 < s["kl_mean"] < 0.5 and 1.0 < s["ppl_ref"] < 1e4
    assert 0.5 < s["same_top1"] <= 1.0
    assert (r.tokens.kl >= -1e-9).all()
