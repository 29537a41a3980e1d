import json

import pandas as pd
import pytest

from tokprobe import io
from tokprobe.errors import FileFormatError, InputError
from tokprobe.lexicon.english import english_lexicon, load_control_words
from tokprobe.lexicon.keywords import keyword_languages, keyword_sources, load_keywords, load_operators
from tokprobe.lexicon.languages import LANGUAGES


def test_shipped_lists_name_their_sources():
    kw = load_keywords()
    assert list(kw) == list(LANGUAGES)
    src = keyword_sources()
    for lang in LANGUAGES:
        assert len(kw[lang]) >= 20, lang
        assert len(set(kw[lang])) == len(kw[lang]), lang
        assert src[lang]["source"] and src[lang]["url"].startswith("https://"), lang
        assert src[lang]["n_operators"] >= 10, lang
        assert all(k == k.strip() and k for k in kw[lang])


def test_well_known_keywords():
    kw = load_keywords()
    assert {"def", "lambda", "nonlocal", "yield", "None"} <= set(kw["python"])
    assert {"func", "chan", "defer", "go"} <= set(kw["go"])
    assert {"typeof", "instanceof", "function", "null"} <= set(kw["javascript"])
    assert {"keyof", "readonly", "satisfies"} <= set(kw["typescript"])
    assert {"fn", "impl", "mut", "Self"} <= set(kw["rust"])
    assert {"useState", "useEffect", "className"} <= set(kw["jsx"])
    assert {"elsif", "defined?", "__FILE__"} <= set(kw["ruby"])
    assert "yield from" in kw["php"]
    assert {"co_await", "constexpr", "nullptr"} <= set(kw["cpp"])


def test_javascript_keywords_are_labelled_javascript():
    # the paper's language-index bug mislabelled JavaScript keywords
    inv = keyword_languages(load_keywords())
    assert "javascript" in inv["typeof"]
    assert "python" not in inv["typeof"]
    assert inv["debugger"] == ("javascript", "typescript")
    assert inv["def"] == ("python", "ruby")


def test_operators():
    ops = load_operators()
    assert "//" in ops["python"] and ":=" in ops["python"]
    assert "===" in ops["javascript"] and "=>" in ops["javascript"]
    assert "::" in ops["rust"] and "->" in ops["rust"]
    assert load_operators(languages=["c++"]).keys() == {"cpp"}


def test_user_file_extends_or_replaces(tmp_path):
    p = tmp_path / "kw.json"
    p.write_text(json.dumps({"_comment": "mine", "Python": ["match", "my_kw"], "C++": {"keywords": ["co_yield"]}}))
    ext = load_keywords(p)
    assert ext["python"][-1] == "my_kw" and ext["python"].count("match") == 1
    assert set(ext) == set(LANGUAGES)
    rep = load_keywords(p, extend=False)
    assert rep == {"python": ["match", "my_kw"], "cpp": ["co_yield"]}
    assert load_keywords(languages=["js"]) == {"javascript": load_keywords()["javascript"]}


def test_user_toml_file(tmp_path):
    p = tmp_path / "kw.toml"
    p.write_text('go = ["gopher"]\n')
    assert load_keywords(p)["go"][-1] == "gopher"
    p.write_text("go = [\n")
    with pytest.raises(FileFormatError):
        load_keywords(p)


@pytest.mark.parametrize("content,err", [
    ("{not json", FileFormatError),
    ('["def"]', FileFormatError),
    ('{"python": "def"}', FileFormatError),
    ('{"python": [1, 2]}', FileFormatError),
    ('{"python": [" def"]}', FileFormatError),
    ('{"python": [""]}', FileFormatError),
    ('{"klingon": ["qaStaH"]}', InputError),
])
def test_invalid_keyword_files(tmp_path, content, err):
    p = tmp_path / "kw.json"
    p.write_text(content)
    with pytest.raises(err):
        load_keywords(p)


def test_missing_or_binary_keyword_file(tmp_path):
    with pytest.raises(InputError):
        load_keywords(tmp_path / "nope.json")
    (tmp_path / "b.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(FileFormatError):
        load_keywords(tmp_path / "b.json")
    with pytest.raises(InputError):
        load_keywords(languages=["klingon"])


def test_control_words_are_disjoint_from_keywords():
    words = load_control_words()
    assert len(words) >= 200
    kws = {k.lower() for ks in load_keywords().values() for k in ks}
    assert not kws & {w.lower() for w in words}
    assert "the" in words and "water" in words


def test_lexicon():
    lex = english_lexicon()
    assert len(lex) > 50_000
    assert {"house", "water", "the"} <= lex
    assert "json" not in lex


def test_null_keyword_survives_csv_round_trip(tmp_path):
    kw = load_keywords(languages=["javascript", "php"])
    df = pd.DataFrame([(lang, k) for lang, ks in kw.items() for k in ks], columns=["language", "keyword"])
    assert "null" in set(df["keyword"])
    io.write_frame(df, tmp_path / "kw.csv")
    back = io.read_frame(tmp_path / "kw.csv")
    assert back["keyword"].tolist() == df["keyword"].tolist()
    assert back["keyword"].isna().sum() == 0
