"""Unit tests of tokprobe.compare's pure parts: source classes, statistics, chunk store, windows, stream."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tokprobe.compare import stats as S
from tokprobe.compare.settings import Settings
from tokprobe.compare.store import ChunkStore
from tokprobe.compare.stream import align_spans, build_stream, byte_class_counts, same_bytes
from tokprobe.errors import EmptyInputError, InputError
from tokprobe.lexicon import source_classes as C
from tokprobe.models import check_scheme, plan_windows
from tokprobe.models.evaluation import batch_spans
from tokprobe.testing import byte_fallback_vocab


# -- source classes ------------------------------------------------------------------------------
def _classes_of(text: str, path: str, pieces: list[str]) -> list[str]:
    """Classes of consecutive spans of ``text`` given as pieces (must concatenate to text)."""
    assert "".join(pieces) == text
    data = text.encode()
    bc = C.byte_classes(text, path)
    ws = C.whitespace_mask(data)
    lens = [len(p.encode()) for p in pieces]
    ends = np.cumsum(lens)
    starts = ends - lens
    return list(C.class_names(C.span_classes(bc, ws, starts, ends)))


def test_python_classes_from_pygments():
    text = 'import os\ndef f(a, b=None):\n    """doc"""\n    return a if not b else 0x1f  # hi\n'
    pieces = ["import", " os", "\n", "def", " f", "(", "a", ",", " b", "=", "None", "):", "\n    ", '"""doc"""',
              "\n    ", "return", " a", " if", " not", " b", " else", " 0x1f", "  ", "# hi", "\n"]
    got = dict(zip(pieces, _classes_of(text, "x.py", pieces), strict=True))
    assert got["import"] == "keyword"
    assert got[" os"] == "identifier"
    assert got["def"] == "keyword"
    assert got["None"] == "keyword"  # Keyword.Constant
    assert got[" not"] == "keyword"  # Operator.Word
    assert got["("] == "operator" and got["="] == "operator"
    assert got["\n    "] == "whitespace" and got["  "] == "whitespace"
    assert got['"""doc"""'] == "literal" and got[" 0x1f"] == "literal"
    assert got["# hi"] == "comment"


def test_token_spanning_lexemes_takes_first_non_whitespace_byte():
    text = "x = foo(1)\n"
    # ' = foo' spans whitespace, an operator and an identifier: first non-whitespace byte is '='
    assert _classes_of(text, "a.py", ["x", " = foo", "(1)\n"]) == ["identifier", "operator", "operator"]
    assert _classes_of(text, "a.py", ["x =", " ", "foo(1)\n"]) == ["identifier", "whitespace", "identifier"]


def test_c_preprocessor_directive_is_keyword_and_include_file_literal():
    text = "#include <stdio.h>\n#define N 1\nint x;\n"
    pieces = ["#include", " <stdio.h>", "\n", "#define", " N", " 1", "\n", "int", " x", ";\n"]
    got = dict(zip(pieces, _classes_of(text, "a.c", pieces), strict=True))
    assert got["#include"] == "keyword" and got["#define"] == "keyword"
    assert got[" <stdio.h>"] == "literal"
    assert got[" N"] == "other"  # operand of a directive
    assert got["int"] == "keyword"


def test_unknown_language_is_plain_text_and_utf8_bytes_align():
    text = "héllo wörld\n"
    bc = C.byte_classes(text, "notes.unknownext")
    assert len(bc) == len(text.encode())
    assert set(C.class_names(np.unique(bc))) == {"other"}
    bc = C.byte_classes("s = 'é€😀'\n", "a.py")
    assert len(bc) == len("s = 'é€😀'\n".encode())


def test_empty_span_is_other():
    bc = np.array([C.KEYWORD], dtype=np.uint8)
    spans = C.span_classes(bc, np.array([False]), np.array([0, 1]), np.array([0, 1]))
    assert list(C.class_names(spans)) == ["other", "other"]


def test_jsx_and_language_name_fallback():
    bc = C.byte_classes("const x = 1;\n", None, "jsx")
    assert C.SOURCE_CLASSES[bc[0]] == "keyword"
    bc = C.byte_classes("fn main() {}\n", None, "rust")
    assert C.SOURCE_CLASSES[bc[0]] == "keyword"


# -- statistics: llama.cpp's formulas (sums of x, x^2 as in perplexity.cpp) ----------------------------
def _llama_mean_unc(x):
    n = len(x)
    f = np.sum(x) / n
    df = np.sum(x * x) / n - f * f
    return f, (math.sqrt(df / (n - 1)) if df > 0 and n > 10 else 0.0)


def test_llama_stats_match_perplexity_cpp_formulas():
    rng = np.random.default_rng(1)
    n = 500
    nll_ref = rng.gamma(2.0, 1.0, n)
    nll_var = nll_ref + rng.normal(0.05, 0.2, n)
    kl = rng.gamma(0.5, 0.05, n)
    same = rng.random(n) < 0.9
    got = S.llama_stats(nll_ref, nll_var, kl, same)
    m_q, e_q = _llama_mean_unc(nll_var)
    m_p, e_p = _llama_mean_unc(nll_ref)
    cov = (np.sum(nll_var * nll_ref) / n - m_q * m_p) / (n - 1)
    assert got["ppl_var"] == pytest.approx(math.exp(m_q), rel=1e-12)
    assert got["ppl_var_err"] == pytest.approx(math.exp(m_q) * e_q, rel=1e-9)
    assert got["ppl_ref_err"] == pytest.approx(math.exp(m_p) * e_p, rel=1e-9)
    assert got["nll_corr"] == pytest.approx(cov / (e_q * e_p), rel=1e-9)
    assert got["ln_ppl_ratio"] == pytest.approx(m_q - m_p, rel=1e-12)
    assert got["ln_ppl_ratio_err"] == pytest.approx(math.sqrt(e_q**2 + e_p**2 - 2 * cov), rel=1e-8)
    ratio = math.exp(m_q - m_p)
    assert got["ppl_ratio_err"] == pytest.approx(ratio * math.sqrt(e_q**2 + e_p**2 - 2 * cov), rel=1e-8)
    pq, pp = math.exp(m_q), math.exp(m_p)
    diff_err = math.sqrt((pq * e_q) ** 2 + (pp * e_p) ** 2 - 2 * pq * pp * cov)
    assert got["ppl_diff_err"] == pytest.approx(diff_err, rel=1e-8)
    assert (got["kl_mean"], got["kl_err"]) == pytest.approx(_llama_mean_unc(kl), rel=1e-9)
    srt = np.sort(kl)

    def pct(fr):  # perplexity.cpp's percentile lambda
        p = fr * (n - 1)
        i = int(p)
        p -= i
        return (1 - p) * srt[i] + p * srt[min(i + 1, n - 1)]

    for name, q in S.KL_PERCENTILES:
        assert got[f"kl_{name}"] == pytest.approx(pct(q / 100), rel=1e-9, abs=1e-15)
    dp = np.exp(-nll_var) - np.exp(-nll_ref)
    assert (got["dp_mean"], got["dp_err"]) == pytest.approx(_llama_mean_unc(dp), rel=1e-9)
    msq, msq_e = _llama_mean_unc(dp * dp)
    assert got["dp_rms"] == pytest.approx(math.sqrt(msq), rel=1e-12)
    assert got["dp_rms_err"] == pytest.approx(0.5 / math.sqrt(msq) * msq_e, rel=1e-9)
    p = same.mean()
    assert got["same_top1"] == pytest.approx(p)
    assert got["same_top1_err"] == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)))
    for name, q in S.DP_PERCENTILES:
        assert got[f"dp_{name}"] == pytest.approx(np.percentile(dp, q), rel=1e-9, abs=1e-15)


def _token_arrays(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    kl = rng.gamma(0.5, 0.05, n)
    t = {f: rng.random(n) for f in S.TOKEN_FIELDS if not f.startswith("argmax")}
    t.update(kl=kl, kl_lower=kl, kl_upper=kl + 0.01, logp_ref=-rng.gamma(2.0, 1.0, n), logp_var=-rng.gamma(2.0, 1.0, n))
    t["argmax_ref"] = rng.integers(0, 3, n).astype(np.int32)
    t["argmax_var"] = rng.integers(0, 3, n).astype(np.int32)
    return t


def test_valid_rows_and_interval_stats():
    from tokprobe.bootstrap import FileBootstrap

    rng = np.random.default_rng(4)
    n = 600
    t = _token_arrays(rng, n)
    assert S.valid_rows(t).all()
    t["js"][5], t["kl_upper"][9] = np.nan, np.inf
    assert list(np.flatnonzero(~S.valid_rows(t))) == [5, 9]
    ok = S.valid_rows(t)
    sub = {k: v[ok] for k, v in t.items()}
    files = np.repeat(np.arange(20), 30)[ok]
    got = S.interval_stats(FileBootstrap(files, seed=1), sub, np.full(ok.sum(), 3.0))
    assert got["n_files"] == 20 and not got["too_few"]
    for name in S.INTERVAL_MEANS + ("ppl_ratio", "bpb_ref", "bpb_var"):
        assert got[f"{name}_lo"] < got[f"{name}_hi"], name
    means = S.token_means(sub)
    assert got["kl_mean_lo"] < means["kl_mean"].mean() < got["kl_mean_hi"]
    assert got["ppl_ratio_lo"] == pytest.approx(math.exp(got["ln_ppl_ratio_lo"]))
    assert got["bpb_var_lo"] < -sub["logp_var"].sum() / math.log(2) / (3.0 * ok.sum()) < got["bpb_var_hi"]


def test_uncertainty_is_zero_for_ten_or_fewer_values_as_llama_cpp():
    assert S.mean_err(np.arange(10.0))[1] == 0.0
    assert S.mean_err(np.arange(11.0))[1] > 0.0
    assert math.isnan(S.mean_err(np.array([]))[0])


def test_entropy_buckets():
    e = np.array([0.0, 0.005, 0.05, 0.3, 0.7, 1.5, 3.0, 10.0, np.nan])
    assert list(S.entropy_bucket(e)) == [0, 0, 1, 2, 3, 4, 5, 6, -1]
    assert len(S.entropy_bucket_labels()) == len(S.ENTROPY_EDGES) - 1


def test_bits_per_byte():
    assert S.bits_per_byte(np.log([0.5, 0.25]), 3) == pytest.approx(3 / 3)
    assert math.isnan(S.bits_per_byte(np.array([-1.0]), 0))


# -- chunk store ---------------------------------------------------------------------------------
def test_store_atomic_parts_done_markers_and_key_change(tmp_path):
    st = ChunkStore.open(tmp_path / "s", {"key": "k1"})
    assert st.first_missing(3) == 0
    st.write_part(0, 0, {"a": np.arange(3)})
    assert st.first_missing(3) == 0  # no done marker yet
    st.write_part(0, 1, {"a": np.arange(3, 5)})
    st.mark_done(0, 2)
    st.write_window(1, {"a": np.arange(2)})
    assert st.first_missing(3) == 2
    assert list(st.read_window(0)["a"]) == [0, 1, 2, 3, 4]
    assert not list((tmp_path / "s").glob("*.tmp"))
    again = ChunkStore.open(tmp_path / "s", {"key": "k1"})
    assert again.done_windows() == {0, 1}
    other = ChunkStore.open(tmp_path / "s", {"key": "k2"})  # another key: stale state is cleared
    assert other.done_windows() == set()
    fresh = ChunkStore.open(tmp_path / "t", {"key": "k"})
    fresh.write_window(0, {"a": np.zeros(1)})
    assert ChunkStore.open(tmp_path / "t", {"key": "k"}, resume=False).done_windows() == set()


# -- windows (mirrors tokprobe.models) -----------------------------------------------------------------
def test_llama_windows_score_second_half():
    w = plan_windows(1100, 512)
    assert len(w) == 2 and w[1].start == 512 and w[0].n_scored == 512 - 1 - 256
    assert list(w[0].positions[:2]) == [256, 257]


def test_sliding_scores_every_token_once():
    w = plan_windows(300, 64, scheme="sliding", stride=16)
    targets = np.concatenate([x.positions for x in w]) + 1
    assert list(targets) == list(range(1, 300))


def test_scheme_errors():
    with pytest.raises(InputError):
        check_scheme("nope", 512, None)
    with pytest.raises(InputError):
        check_scheme("llama", 512, 10)
    with pytest.raises(InputError):
        check_scheme("sliding", 64, 64)
    with pytest.raises(EmptyInputError):
        plan_windows(100, 512)
    with pytest.raises(InputError):
        check_scheme("file", 64, 64)
    with pytest.raises(EmptyInputError):  # no file has a second token, and no BOS to predict the first
        plan_windows(3, 64, scheme="file", file_starts=[0, 1, 2])


def test_file_scheme_is_the_default_and_batches_request_only_scored_rows():
    assert Settings().scheme == "file" and check_scheme("file", 64, None) == 32
    w = plan_windows(201, 64, scheme="file", add_bos=True, file_starts=[1, 101])
    assert [(x.start, x.end, x.lo, x.hi) for x in w] == [(0, 64, 0, 64), (32, 96, 32, 64), (64, 101, 32, 36),
                                                         (100, 164, 0, 64), (132, 196, 32, 64), (164, 201, 32, 36)]
    assert sum(x.n_scored for x in w) == 200  # every token of both files (BOS predicts each file's first)
    # the rows before the first scored row are decoded without output, the scored ones in their own batches
    assert batch_spans(w[1], 32) == [(0, 32), (32, 32)]
    assert batch_spans(w[1], 24) == [(0, 24), (24, 8), (32, 24), (56, 8)]
    assert batch_spans(w[0], 24) == [(0, 24), (24, 24), (48, 16)]
    llama = plan_windows(128, 64, scheme="llama", add_bos=True)[1]
    assert batch_spans(llama, 32) == [(0, 32), (32, 31)]  # llama and sliding batches are unchanged


# -- stream --------------------------------------------------------------------------------------------
@dataclass
class _File:
    path: Path
    language: str
    text: str


class _ByteVocab:
    """A byte-level toy tokenizer: one token per byte, plus a BOS id 256."""

    n_vocab = 257
    add_bos = True
    bos_id = 256
    token_bytes = [bytes([i]) for i in range(256)] + [b""]

    def tokenize(self, text, add_bos=False):
        return np.frombuffer(text.encode(), dtype=np.uint8).astype(np.int32)


def test_stream_spans_classes_languages_and_lines(tmp_path):
    files = [_File(tmp_path / "a.py", "python", "def f():\n    return 1\n"), _File(tmp_path / "b.c", "c", "int x;\n")]
    v = _ByteVocab()
    s = build_stream(files, v, v)
    assert s.ids[0] == 256 and s.file[0] == -1
    assert len(s) == 1 + len(files[0].text) + len(files[1].text)
    assert s.languages == ["python", "c"]
    i = 1 + files[0].text.index("return")
    assert C.SOURCE_CLASSES[s.cls[i]] == "keyword"
    assert s.line_of(np.array([i]))[0] == 2
    text, a, b = s.context(i, before=1, after=0)
    assert text[a:b] == "r" and "def f" in text
    counts = byte_class_counts(s, np.arange(1, len(s)))
    assert counts.sum() == len(files[0].text) + len(files[1].text)
    assert len(build_stream(files, v, v, max_tokens=5)) == 5
    with pytest.raises(EmptyInputError):
        build_stream([_File(tmp_path / "e.py", "python", "")], v, v)


def test_same_bytes_cuts_files_by_bytes_for_another_tokenizer(tmp_path):
    files = [_File(tmp_path / "a.py", "python", "def f(self):\n    return 1\n"),
             _File(tmp_path / "b.c", "c", "int x;\n")]
    v = _ByteVocab()
    ref = build_stream(files, v, v, max_tokens=12)  # BOS + the first 11 bytes of a.py; b.c dropped
    cut = same_bytes(files, ref)
    assert [c.text for c in cut] == [files[0].text[:11]]
    other = byte_fallback_vocab()
    s = build_stream(cut, other, other)
    assert len(s) != len(ref) and int(s.n_bytes.sum()) == int(ref.n_bytes.sum()) == 11
    assert same_bytes(files, build_stream(files, v, v))[1] is files[1]  # whole files are passed as they are


def test_align_spans_dummy_prefix_and_general_edit():
    src = b"def x"
    s, e, aligned = align_spans(b" def x", src, np.array([0, 4]), np.array([4, 6]))
    assert aligned and list(s) == [0, 3] and list(e) == [3, 5]
    s, e, aligned = align_spans(b"def\xef\xbf\xbdx", b"def\xffx", np.array([0, 3, 6]), np.array([3, 6, 7]))
    assert aligned and list(s) == [0, 3, 4] and list(e) == [3, 4, 5]
