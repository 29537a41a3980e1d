import json

import pytest

from tokprobe.corpus import load_corpus
from tokprobe.errors import InputError
from tokprobe.lexicon.forms import split_text
from tokprobe.lexicon.languages import LANGUAGES
from tokprobe.testing import byte_fallback_vocab, tiny_vocab
from tokprobe.vocab.analysis import analyze, whitespace_runs
from tokprobe.vocab.corpus_stats import corpus_stats
from tokprobe.vocab.coverage import coverage_summary, keyword_tokens

KW = {"python": ["def", "yield from", "class", "return"], "javascript": ["null", "class"]}


def row(df, lang, kw, form):
    r = df[(df.language == lang) & (df.keyword == kw) & (df.form == form)]
    assert len(r) == 1
    return r.iloc[0]


def pid(v, piece):
    return v.pieces.index(piece)


def test_forms_and_splits():
    v = tiny_vocab()
    df = keyword_tokens(v, KW)
    assert len(df) == 6 * 3
    assert row(df, "python", "def", "bare").token_id == pid(v, "def")
    assert row(df, "python", "def", "bare").n_matches == 2  # a duplicate entry; the lower id is reported
    assert row(df, "python", "def", "space").token_id == pid(v, "▁def")
    assert row(df, "python", "def", "newline").token_id == pid(v, "\ndef")
    r = row(df, "python", "return", "space")
    assert (r.token_id, r.n_pieces, json.loads(r.pieces), r.piece_ids) == (
        -1, 2, [" ret", "urn"], f"{pid(v, '▁ret')} {pid(v, 'urn')}")
    r = row(df, "python", "class", "newline")
    assert r.token_id == -1 and json.loads(r.pieces) == ["\n", "class"]


def test_multiword_keyword_is_never_covered():
    df = keyword_tokens(tiny_vocab(), KW)
    for form in ("bare", "space", "newline"):
        r = row(df, "python", "yield from", form)
        assert r.multiword and r.token_id == -1
    # even though this vocabulary has a ' yield from' entry and the tokenizer emits it as one token
    assert row(df, "python", "yield from", "space").tokenizer_single


def test_sentencepiece_space_prefix_is_undone():
    v = tiny_vocab(space_prefix=True)
    assert v.tokenize("def").tolist() == [pid(v, "▁def")]  # the automatic space
    ids, clean = split_text(v, "def")
    assert ids == [pid(v, "def")] and clean
    df = keyword_tokens(v, {"python": ["return"]})
    assert json.loads(row(df, "python", "return", "bare").pieces) == ["ret", "urn"]


def test_summary_counts_and_all_row():
    s = coverage_summary(keyword_tokens(tiny_vocab(), KW))

    def get(lang, f):
        return s[(s.language == lang) & (s.form == f)].iloc[0]

    assert (get("python", "bare").n_keywords, get("python", "bare").n_covered) == (4, 2)
    assert get("python", "newline").n_covered == 1
    assert get("javascript", "any").coverage == 1.0
    assert get("ALL", "bare").n_keywords == 5  # 'class' counted once
    assert get("ALL", "any").n_covered == 3


def test_javascript_rows_are_javascript():
    df = keyword_tokens(tiny_vocab(), KW)
    assert set(df[df.keyword == "null"].language) == {"javascript"}


def test_unknown_form():
    with pytest.raises(InputError):
        keyword_tokens(tiny_vocab(), KW, forms=["tab"])


def test_whitespace_runs():
    ws = whitespace_runs(tiny_vocab(), 4)
    one = ws[ws.token_id >= 0]
    got = set(zip(one["shape"], one["length"], strict=True))
    assert got == {("spaces", 1), ("spaces", 2), ("spaces", 4), ("tabs", 1), ("tabs", 2), ("newlines", 1),
                   ("newlines", 2), ("newline+spaces", 4)}
    r = ws[(ws["shape"] == "spaces") & (ws["length"] == 3)].iloc[0]
    assert r.token_id == -1 and r.n_pieces == 2


def test_corpus_stats_on_a_byte_fallback_vocab():
    v = byte_fallback_vocab()
    corpus = load_corpus()
    cs = corpus_stats(v, corpus, top_n=5)
    pl = cs.per_language.set_index("language")
    assert list(pl.index) == [*LANGUAGES, "ALL"]
    assert pl.loc["ALL", "n_tokens"] == cs.per_file["n_tokens"].sum()
    assert pl.loc["ALL", "n_bytes"] == corpus.n_bytes
    assert 1.0 <= pl.loc["ALL", "bytes_per_token"] < 2.0  # mostly single bytes
    assert (pl["tokens_per_line"] > 0).all() and (pl["fertility"] > 1).all()
    top = cs.top_tokens[cs.top_tokens.language == "python"]
    assert top["rank"].tolist() == [1, 2, 3, 4, 5]
    assert top["count"].is_monotonic_decreasing
    cc = cs.class_counts[cs.class_counts.language == "ALL"]
    assert cc["count"].sum() == pl.loc["ALL", "n_tokens"]
    assert cs.settings["histogram"] in ("core", "numpy")


def test_analyze_with_vocab_objects(tmp_path):
    rep = analyze([tiny_vocab(), tiny_vocab(space_prefix=True)], KW, operators={"python": ["(", "->", "==="]},
                  names=["a", "b"], whitespace_max_run=4)
    assert rep.tokenizers["tokenizer"].tolist() == ["a", "b"]
    wide = rep.coverage_table()
    assert list(wide.columns) == ["tokenizer", "language", "n_keywords", "bare", "space", "newline", "any"]
    assert len(wide) == 2 * 3
    assert set(rep.splits()["keyword"]) >= {"return", "yield from"}
    op = rep.operators
    assert op[(op.tokenizer == "a") & (op.operator == "===") & (op.form == "bare")].token_id.iloc[0] == -1
    assert set(rep.composition["tokenizer"]) == {"a", "b"}
    written = rep.save(tmp_path / "out", fmt="csv")
    assert (tmp_path / "out" / "coverage.png").stat().st_size > 1000
    assert (tmp_path / "out" / "provenance.json").is_file()
    assert written["coverage"].suffix == ".csv"
    assert (tmp_path / "out" / "classes" / "a.csv").is_file()


def test_duplicate_names_get_suffixes():
    rep = analyze([tiny_vocab(), tiny_vocab()], {"python": ["def"]}, operators={}, names=["x", "x"],
                  whitespace_max_run=1)
    assert rep.tokenizers["tokenizer"].tolist() == ["x", "x#2"]


def test_coverage_table_keeps_null_through_csv(tmp_path):
    from tokprobe import io

    rep = analyze([tiny_vocab()], KW, operators={}, names=["t"], whitespace_max_run=1)
    rep.save(tmp_path, fmt="csv")
    back = io.read_frame(tmp_path / "coverage.csv")
    nulls = back[back["keyword"] == "null"]
    assert len(nulls) == 3 and set(nulls["form"]) == {"bare", "space", "newline"}
    assert back["keyword"].isna().sum() == 0


def test_histograms_match_a_plain_count():
    """Counted by tokprobe.core.TokenHistogram when the native core is built (numpy stand-in otherwise)."""
    import importlib.util

    import numpy as np

    v = byte_fallback_vocab()
    corpus = load_corpus(languages=["go"])
    cs = corpus_stats(v, corpus, top_n=1000, threads=1)
    if importlib.util.find_spec("tokprobe.core") is not None:
        assert cs.settings["histogram"] == "core"
    ids = np.concatenate([v.tokenize(f.text) for f in corpus.files])
    want = np.bincount(ids, minlength=v.n_vocab)
    top = cs.top_tokens[cs.top_tokens.language == "ALL"]
    assert len(top) == int((want > 0).sum())
    for tid, count in zip(top["token_id"], top["count"], strict=True):
        assert want[tid] == count
