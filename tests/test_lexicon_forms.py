"""Surface forms of keywords and token kinds: the shared lexicon definitions."""

import pytest

from tokprobe import models
from tokprobe.errors import InputError
from tokprobe.lexicon import forms, kinds
from tokprobe.testing import FakeVocab, TableVocab, tiny_vocab


def test_forms_and_their_texts():
    assert forms.FORMS == ("bare", "space", "newline")
    assert [forms.form_text("def", f) for f in forms.FORMS] == ["def", " def", "\ndef"]
    with pytest.raises(InputError, match="unknown keyword form 'tab'; use bare, space, newline"):
        forms.form_text("def", "tab")


def test_parse_forms():
    assert forms.parse_forms(None, ("bare",)) == ("bare",)
    assert forms.parse_forms("Space, bare space", ("bare",)) == ("space", "bare")
    assert forms.parse_forms(["newline"], ("bare",)) == ("newline",)
    for bad in ("tab", "", []):
        with pytest.raises(InputError):
            forms.parse_forms(bad, ("bare",))


def test_split_text_finds_the_pieces_where_a_pre_token_starts():
    v = tiny_vocab()
    ids, clean = forms.split_text(v, " return")
    assert [v.pieces[i] for i in ids] == ["▁ret", "urn"] and clean


def test_one_home_for_kind_names():
    assert models.KIND_NAMES is kinds.KIND_NAMES
    assert FakeVocab.KIND_NAMES is kinds.KIND_NAMES and TableVocab.KIND_NAMES is kinds.KIND_NAMES
    v = tiny_vocab()
    assert kinds.token_kinds(v)[:3] == ["unknown", "control", "control"]
    assert kinds.kind_ids(v, ("byte", "normal", "nope")) == [2, 0]
    assert kinds.base_mask(v).tolist() == v.base_mask.tolist()
