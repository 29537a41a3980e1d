"""tokenizer.json vocabularies (tokprobe.vocab.hf_tokenizer): three hand-made tokenizers, one per family,
with counts, token bytes, surface forms and splits checked against answers worked out by hand."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

from tokprobe.corpus import load_corpus
from tokprobe.errors import Error, FileFormatError, InputError
from tokprobe.lexicon.vocab_digest import base_digest, same_vocabulary
from tokprobe.vocab import analyze, keyword_tokens, open_tokenizer
from tokprobe.vocab.hf_tokenizer import BYTE_DECODER, HFVocab, tokenizer_file
from tokprobe.vocab.paper_tables import paper_tables

KW = {"python": ["def", "if"], "c": ["int"]}


def _byte_alphabet() -> list[str]:
    return sorted(BYTE_DECODER, key=lambda c: BYTE_DECODER[c])  # id b = the character standing for byte b


def make_byte_bpe(path: Path) -> Path:
    """Byte-level BPE: the 256 byte symbols (ids 0-255), then de, def, Ġdef, ĠĠ, ĊĊ; one special token."""
    vocab = {c: i for i, c in enumerate(_byte_alphabet())}
    merges = [("d", "e"), ("de", "f"), ("Ġ", "def"), ("Ġ", "Ġ"), ("Ċ", "Ċ")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    tok.save(str(path))
    return path


def make_unigram(path: Path) -> Path:
    """SentencePiece-style Unigram with Metaspace (prepend '▁' always) and byte fallback for newline."""
    pieces = [("<unk>", 0.0), ("<0x0A>", -20.0), ("▁", -3.0), ("d", -5.0), ("e", -5.0), ("f", -5.0),
              ("i", -5.0), ("n", -5.0), ("t", -5.0), ("def", -2.0), ("▁def", -1.0), ("▁if", -1.0), ("in", -4.0)]
    tok = Tokenizer(models.Unigram(pieces, unk_id=0, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Sequence([decoders.Metaspace(), decoders.ByteFallback()])
    tok.add_tokens([AddedToken("▁▁", special=False, normalized=False)])
    tok.save(str(path))
    return path


def make_wordpiece(folder: Path) -> Path:
    """WordPiece (BERT style) with whitespace pre-tokenizer: whitespace is dropped, '##' marks continuations."""
    vocab = {"[UNK]": 0, "[CLS]": 1, "def": 2, "i": 3, "##f": 4, "in": 5, "##t": 6, "d": 7, "##e": 8}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens([AddedToken("[CLS]", special=True)])
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    return folder


def _row(df, keyword: str, form: str):
    r = df[(df["keyword"] == keyword) & (df["form"] == form)]
    assert len(r) == 1
    return r.iloc[0]


def test_byte_level_bpe_counts_bytes_and_forms(tmp_path: Path) -> None:
    v = HFVocab(make_byte_bpe(tmp_path / "bpe.json"))
    assert (v.n_vocab, v.n_model_vocab, v.n_base) == (262, 261, 261)
    assert v.kind_counts()["control"] == 1 and v.pieces[261] == "<|endoftext|>"
    assert v.type == "bpe" and v.pre == "byte-level"
    assert v.token_bytes[ord("a")] == b"a" and v.token_bytes[32] == b" " and v.token_bytes[10] == b"\n"
    assert v.token_bytes[256:261] == [b"de", b"def", b" def", b"  ", b"\n\n"]
    kw = keyword_tokens(v, KW)
    assert _row(kw, "def", "bare")["token_id"] == 257
    assert _row(kw, "def", "space")["token_id"] == 258
    nl = _row(kw, "def", "newline")  # the pre-tokenizer isolates '\n': two pieces
    assert nl["token_id"] == -1 and nl["piece_ids"] == "10 257" and json.loads(nl["pieces"]) == ["\n", "def"]
    sp = _row(kw, "if", "space")
    assert sp["token_id"] == -1 and sp["piece_ids"] == f"32 {ord('i')} {ord('f')}"
    assert list(v.tokenize("<|endoftext|>")) != [261]  # special text is plain text by default
    assert list(v.tokenize("<|endoftext|>", special=True)) == [261]


def test_unigram_metaspace_undoes_the_automatic_space_prefix(tmp_path: Path) -> None:
    v = HFVocab(make_unigram(tmp_path / "uni.json"))
    assert v.pre == "metaspace" and v.type == "ugm"
    assert (v.n_vocab, v.n_base) == (14, 13)
    k = v.kind_counts()
    assert (k["unknown"], k["byte"], k["user_defined"]) == (1, 1, 1)
    assert v.token_bytes[1] == b"\n" and v.token_bytes[10] == b" def" and v.token_bytes[13] == b"  "
    kw = keyword_tokens(v, KW)
    # 'def' alone encodes as '▁def' (the prefix); after an anchor it is the piece 'def' (id 9).
    assert _row(kw, "def", "bare")["token_id"] == 9
    assert _row(kw, "def", "space")["token_id"] == 10
    assert _row(kw, "if", "space")["token_id"] == 11
    bare_if = _row(kw, "if", "bare")
    assert bare_if["token_id"] == -1 and bare_if["piece_ids"] == "6 5"
    assert _row(kw, "int", "bare")["piece_ids"] == "12 8"


def test_wordpiece_forms_encode_like_the_bare_word_and_unk_never_counts(tmp_path: Path) -> None:
    folder = make_wordpiece(tmp_path / "bert")
    assert tokenizer_file(folder) == folder / "tokenizer.json"
    v = HFVocab(folder)
    assert v.type == "wpm" and v.name == "bert"
    assert v.token_bytes[4] == b"f" and v.token_bytes[2] == b"def"
    kw = keyword_tokens(v, {"python": ["def", "if", "class"]})
    for form in ("bare", "space", "newline"):
        assert _row(kw, "def", form)["token_id"] == 2  # whitespace is dropped: ' def' is the token 'def'
        assert _row(kw, "if", form)["piece_ids"] == "3 4"
    cls = _row(kw, "class", "bare")
    assert cls["piece_ids"] == "0" and cls["token_id"] == -1  # [UNK] is one token but not a keyword token


def test_analyze_takes_tokenizer_json_next_to_counts(tmp_path: Path) -> None:
    bpe = make_byte_bpe(tmp_path / "bpe.json")
    folder = make_wordpiece(tmp_path / "bert")
    r = analyze([str(bpe), str(folder)], KW)
    info = r.tokenizers.set_index("tokenizer")
    assert info.loc["bpe", "n_base"] == 261 and info.loc["bpe", "n_added"] == 1
    # [CLS] is special but sits in the WordPiece vocabulary: base, as the paper counts (DeepSeek-V3's ids 0-2 too)
    assert info.loc["bert", "n_base"] == 9 and info.loc["bert", "n_added"] == 0
    assert r.classes["bert"].loc[1, "cls"] == "control"
    cov = r.coverage_summary.set_index(["tokenizer", "language", "form"])["n_covered"]
    assert cov["bpe", "python", "bare"] == 1 and cov["bpe", "python", "space"] == 1
    assert cov["bpe", "python", "newline"] == 0 and cov["bert", "python", "newline"] == 1
    ws = r.whitespace[(r.whitespace["tokenizer"] == "bpe")].set_index(["shape", "length"])["token_id"]
    assert ws["spaces", 2] == 259 and ws["newlines", 2] == 260 and ws["spaces", 3] == -1
    assert open_tokenizer(str(bpe)).info["format"] == "tokenizer.json"


def test_bad_tokenizer_json_is_one_line_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(FileFormatError, match="not a readable tokenizer.json"):
        HFVocab(bad)
    bad.write_text(json.dumps({"model": {"type": "NoSuchModel", "vocab": {}}}))
    with pytest.raises(FileFormatError, match="cannot load"):
        HFVocab(bad)
    bad.write_text(json.dumps({"version": "1.0"}))
    with pytest.raises(FileFormatError, match="no 'model'"):
        HFVocab(tmp_path)
    with pytest.raises(InputError):
        HFVocab(tmp_path / "nowhere")
    assert issubclass(FileFormatError, Error)


def test_paper_tables_count_whitespace_and_symbols_by_hand(tmp_path: Path) -> None:
    bpe = make_byte_bpe(tmp_path / "bpe.json")
    corpus = load_corpus()
    t = paper_tables({"bpe": str(bpe)}, corpus=corpus, languages="python,c")
    row = t.vocab.iloc[0]
    # str.strip() removes \t \n \v \f \r, \x1c-\x1f and space: 10 single bytes, plus '  ' and '\n\n'
    assert row["whitespace_only"] == 12 and row["n_base"] == 261
    assert row["whitespace_share"] == pytest.approx(12 / 261)
    assert row["whitespace_class"] == 8  # the lexicon's whitespace class: ' \t\r\n\f\v' only
    # 32 ASCII punctuation/symbol bytes, '_' excluded (an identifier by the name rule), plus \x1c-\x1f, which
    # the operator pattern's \s accepts (Python counts them as whitespace) after the strip of ' \t\r\n\f\v'
    assert row["symbol_tokens"] == 31 + 4
    assert t.counts.iloc[0][["n_base", "n_added"]].tolist() == [261, 1]
    tok = Tokenizer.from_file(str(bpe))
    c = t.corpus.set_index("language")
    for lang in ("python", "c"):
        files = [f for f in corpus.files if f.language == lang]
        n_tok = sum(len(tok.encode(f.text, add_special_tokens=False).ids) for f in files)
        assert c.loc[lang, "n_tokens"] == n_tok
        assert c.loc[lang, "bytes_per_token"] == pytest.approx(sum(f.n_bytes for f in files) / n_tok)
    # the shipped keyword lists: of Python's and C's keywords only 'def' (bare, space) is one token here
    cov = t.coverage.set_index("language")
    n_py, n_c = int(cov.loc["python", "n_keywords"]), int(cov.loc["c", "n_keywords"])
    assert cov.loc["python", ["missed_bare", "missed_space", "missed_newline"]].tolist() == [n_py - 1, n_py - 1, n_py]
    assert cov.loc["c", ["missed_bare", "missed_space", "missed_newline"]].tolist() == [n_c, n_c, n_c]
    assert len(t.splits) == 3 * (n_py + n_c) - 2 and "def" not in set(t.splits[t.splits["form"] == "bare"]["keyword"])


def test_base_digest_names_one_vocabulary_across_added_tokens(tmp_path: Path) -> None:
    a = make_byte_bpe(tmp_path / "a.json")
    tok = Tokenizer.from_file(str(make_byte_bpe(tmp_path / "b.json")))
    tok.add_special_tokens([AddedToken("<|im_start|>", special=True)])  # same base, one more added token
    tok.save(str(tmp_path / "b.json"))
    va, vb, vw = HFVocab(a), HFVocab(tmp_path / "b.json"), HFVocab(make_wordpiece(tmp_path / "w"))
    assert va.digest != vb.digest and same_vocabulary(va, vb) and not same_vocabulary(va, vw)
    # the digest is over the base entries' bytes: 'Ġdef' is b' def', as a GGUF's token bytes are
    want = hashlib.sha256(b"".join(va.token_bytes[i] + b"\0" for i in range(261))).hexdigest()
    assert base_digest(va) == want
    # special entries inside the model vocabulary ([UNK] 0, [CLS] 1) count in n_base but not in the digest,
    # as a GGUF types them control/unknown (Gemma 3's tokenizer.json thus matches gemma3-270m's GGUF)
    assert base_digest(vw) == hashlib.sha256(b"".join(vw.token_bytes[i] + b"\0" for i in range(2, 9))).hexdigest()
    r = analyze([str(a), str(tmp_path / "b.json"), str(tmp_path / "w")], KW)
    info = r.tokenizers.set_index("tokenizer")
    assert info["vocabulary"].to_dict() == {"a": "a", "b": "a", "w": "w"}
    assert info.loc["b", "n_added"] == 2 and info.loc["a", "format"] == "tokenizer.json"


@pytest.mark.parametrize("case", ["malformed", "unloadable", "not-fetched"])
def test_cli_bad_tokenizer_is_one_line_and_exit_2(tmp_path: Path, monkeypatch, capsys, case: str) -> None:
    from tokprobe.cli import main

    monkeypatch.setenv("TOKPROBE_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{oops" if case == "malformed" else json.dumps({"model": {"type": "Nope"}}))
    arg = "deepseek-v3" if case == "not-fetched" else str(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["vocab", arg, "--no-heatmap"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    want = {"malformed": "not a readable tokenizer.json", "unloadable": "the tokenizers library cannot load it",
            "not-fetched": "deepseek-v3: not in the cache yet; run 'tokprobe vocabs fetch'"}[case]
    assert len(err) == 1 and err[0].startswith("error: ") and want in err[0]


def test_a_vocabulary_without_any_keyword_token_counts_zero(tmp_path: Path) -> None:
    r = analyze([str(make_wordpiece(tmp_path / "bert"))], {"python": ["class"]})
    assert r.keyword_classes["n_tokens"].tolist() == [0]
