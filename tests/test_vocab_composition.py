import numpy as np
import pytest

from tokprobe.lexicon.token_classes import TOKEN_CLASSES, class_map, classify
from tokprobe.testing import tiny_vocab
from tokprobe.vocab.composition import composition, whitespace_lengths


@pytest.fixture(scope="module")
def classes():
    return classify(tiny_vocab())


def test_class_map_and_composition(classes):
    v = tiny_vocab()
    cm = class_map(v)
    assert cm.dtype == np.int32 and cm.shape == (v.n_vocab,)
    assert [TOKEN_CLASSES[c] for c in cm] == classes["cls"].astype(str).tolist()
    comp = composition(classes)
    assert comp["class"].tolist() == list(TOKEN_CLASSES)
    assert comp["n_tokens"].sum() == v.n_vocab
    assert comp["share"].sum() == pytest.approx(1.0)
    assert (comp["n_base"] + comp["n_added"] == comp["n_tokens"]).all()


def test_whitespace_shapes(classes):
    ws = whitespace_lengths(classes)
    shapes = dict(zip(ws["length"].astype(str) + ws["shape"], ws["shape"], strict=True))
    assert set(ws["shape"]) == {"spaces", "tabs", "newlines", "newline+spaces"}
    assert "5newline+spaces" in shapes
