import numpy as np
import pytest

from tokprobe.lexicon.keywords import load_keywords
from tokprobe.lexicon.token_classes import TOKEN_CLASSES, classify
from tokprobe.testing import FakeVocab, tiny_vocab


@pytest.fixture(scope="module")
def classes():
    return classify(tiny_vocab())


def cls_of(df, piece):
    rows = df[df["piece"] == piece]
    assert len(rows) >= 1, piece
    return rows["cls"].iloc[0]


@pytest.mark.parametrize("piece,expected", [
    ("<unk>", "control"), ("<s>", "control"), ("<0x0A>", "byte"), ("def", "keyword"), ("▁def", "keyword"),
    ("\ndef", "keyword"), ("null", "keyword"), ("▁yield▁from", "keyword"), ("(", "operator"), ("->", "operator"),
    ("▁=", "operator"), ("▁▁▁▁", "whitespace"), ("\t\t", "whitespace"), ("\n▁▁▁▁", "whitespace"), ("42", "digits"),
    ("▁2024", "digits"), ("the", "word"), ("▁house", "word"), ("über", "word"), ("▁é", "word"),
    ("tion", "identifier"), ("get_value", "identifier"), ("getValue", "identifier"), ("HTTP", "identifier"),
    ("x", "identifier"), ("_", "identifier"), (".get", "other"), ("<unused0>", "unused"), ("[PAD7]", "unused"),
    ("<|im_start|>", "control"), ("<mask>", "unused"),
])
def test_token_classes(classes, piece, expected):
    assert cls_of(classes, piece) == expected


def test_keyed_by_token_id_with_duplicates_kept(classes):
    v = tiny_vocab()
    assert len(classes) == v.n_vocab
    assert classes.index.tolist() == list(range(v.n_vocab))
    assert (classes["token_id"] == classes.index).all()
    dups = classes[classes["piece"] == "def"]
    assert len(dups) == 2  # two ids with the same text stay two rows
    assert dups["keyword_languages"].tolist() == ["python,ruby", "python,ruby"]


def test_columns(classes):
    row = classes.loc[classes["piece"] == "\n▁▁▁▁"].iloc[0]
    assert (row["ws_spaces"], row["ws_newlines"], row["ws_tabs"], row["lead"]) == (4, 1, 0, "newline")
    assert classes.loc[classes["piece"] == "▁def", "lead"].iloc[0] == "space"
    assert classes.loc[classes["piece"] == "[PAD7]", "base"].iloc[0] == np.False_
    assert classes.loc[classes["piece"] == "<0x0A>", "base"].iloc[0] == np.True_
    assert set(classes["cls"].cat.categories) == set(TOKEN_CLASSES)


def test_invalid_utf8_is_other():
    v = FakeVocab(["a", "b"])
    v.token_bytes[1] = b"\xe2\x80"  # half a character (byte-level BPE pieces do this)
    df = classify(v)
    assert df["cls"].tolist() == ["identifier", "other"] and df["utf8"].tolist() == [True, False]


def test_keywords_argument_changes_classes():
    v = tiny_vocab()
    df = classify(v, {"python": ["tion"]})
    assert cls_of(df, "tion") == "keyword" and cls_of(df, "def") == "identifier"
    assert cls_of(classify(v, load_keywords()), "def") == "keyword"
