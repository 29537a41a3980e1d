"""Cold-start rules without a model: context parsing/resolution, token sets, holders, Spearman."""

from __future__ import annotations

import numpy as np
import pytest

from tokprobe.coldstart import context as ctxmod
from tokprobe.coldstart.tokensets import build_token_sets, check_forms, is_indent_text, is_stp_text
from tokprobe.errors import InputError
from tokprobe.testing import TableVocab

TOKENS = [
    ("<|endoftext|>", b"", "control"),  # 0
    ("<|im_start|>", b"", "control"),  # 1
    ("def", b"def", "normal"),  # 2
    ("Ġdef", b" def", "normal"),  # 3
    ("Ġif", b" if", "normal"),  # 4
    ("if", b"if", "normal"),  # 5
    ("Ġthe", b" the", "normal"),  # 6
    ("#", b"#", "normal"),  # 7
    ("Ġ//", b" //", "normal"),  # 8
    ("ĊĠĠĠ", b"\n   ", "normal"),  # 9
    ("Ġ", b" ", "normal"),  # 10
    ("<0xE2>", b"\xe2", "byte"),  # 11: incomplete UTF-8 -> U+FFFD, not a symbol
    ("→", "→".encode(), "normal"),  # 12: Unicode symbol (Sm)
    ("<unused0>", b"<unused0>", "unused"),  # 13: not rendered
    ("<h1>", b"<h1>", "user_defined"),  # 14: special-looking user-defined entry
    ("is", b"is", "normal"),  # 15
    ("Ġis", b" is", "normal"),  # 16
    ("Ġde", b" de", "normal"),  # 17
    ("f", b"f", "normal"),  # 18
    ("def", b"def", "user_defined"),  # 19: a second token with the text 'def'
    ("«", "«".encode(), "normal"),  # 20: non-ASCII punctuation (Pi), not a symbol -> not STP
    ("the", b"the", "normal"),  # 21
    ("The", b"The", "normal"),  # 22: capitalised control word
]


@pytest.fixture
def vocab():
    return TableVocab(TOKENS)


# ---- context ----------------------------------------------------------------------------------


def test_parse_context_modes():
    assert ctxmod.parse_context(None).mode == ctxmod.DEFAULT_CONTEXT == "auto"
    assert ctxmod.parse_context("BOS").mode == "bos"
    assert ctxmod.parse_context("endoftext").mode == "endoftext"
    assert ctxmod.parse_context("ids:2, 106 7").ids == (2, 106, 7)
    assert ctxmod.parse_context("text:a:b").text == "a:b"
    assert ctxmod.parse_context("ids:5").spec == "ids:5"
    for bad in ("nope", "ids:", "ids:x", "text:", "bos:1", "chat:x"):
        with pytest.raises(InputError):
            ctxmod.parse_context(bad)


def test_auto_prefers_bos_only_when_added(vocab):
    # SmolLM2-like: add_bos false, BOS is a chat token, <|endoftext|> separates documents
    r = ctxmod.resolve_context(vocab, "auto")
    assert (r.mode, r.ids, r.label) == ("endoftext", (0,), "auto:endoftext")
    assert r.text == "<|endoftext|>"
    vocab.add_bos = True
    r = ctxmod.resolve_context(vocab, "auto")
    assert (r.mode, r.ids, r.label) == ("bos", (1,), "auto:bos")
    vocab.add_bos = False
    vocab.pieces[0] = "</s>"  # no end-of-text token: the GGUF's EOS
    r = ctxmod.resolve_context(vocab, "auto")
    assert (r.mode, r.ids, r.label) == ("eos", (0,), "auto:eos")
    with pytest.raises(InputError):
        ctxmod.resolve_context(vocab, "endoftext")
    vocab.eos_id = -1
    assert ctxmod.resolve_context(vocab, "auto").ids == (1,)
    vocab.bos_id = None
    with pytest.raises(InputError):
        ctxmod.resolve_context(vocab, "auto")


def test_explicit_modes(vocab):
    assert ctxmod.resolve_context(vocab, "bos").ids == (1,)
    assert ctxmod.resolve_context(vocab, "eos").ids == (0,)
    assert ctxmod.resolve_context(vocab, "endoftext").ids == (0,)
    assert ctxmod.resolve_context(vocab, "ids:2,3").ids == (2, 3)
    r = ctxmod.resolve_context(vocab, "text: def")
    assert r.ids == (3,) and r.mode == "text"
    with pytest.raises(InputError):
        ctxmod.resolve_context(vocab, f"ids:{vocab.n_vocab}")
    with pytest.raises(InputError):  # a bare vocabulary has no chat template
        ctxmod.resolve_context(vocab, "chat")
    vocab.bos_id = -1
    with pytest.raises(InputError):
        ctxmod.resolve_context(vocab, "bos")


class _ChatModel:
    def __init__(self, vocab, prompt):
        self.vocab, self._prompt, self.name = vocab, prompt, "fake"

    def chat_prompt(self, user_text, system=None):
        assert user_text == ""
        return self._prompt

    def tokenize(self, text, *, add_bos=None, special=False):
        return self.vocab.tokenize(text, add_bos=add_bos, special=special)


def test_chat_mode_prepends_bos_when_vocab_adds_it(vocab):
    m = _ChatModel(vocab, " def")
    assert ctxmod.resolve_context(m, "chat").ids == (3,)
    vocab.add_bos = True
    assert ctxmod.resolve_context(m, "chat").ids == (1, 3)
    with pytest.raises(InputError):
        ctxmod.resolve_context(_ChatModel(vocab, None), "chat")


# ---- token sets -------------------------------------------------------------------------------


def test_stp_and_indent_text_rules():
    assert is_stp_text("#") and is_stp_text(" //") and is_stp_text("\n   **") and is_stp_text("→")
    assert is_stp_text(" $") and is_stp_text("<h1>") and is_stp_text('"""')
    assert not is_stp_text("def") and not is_stp_text("   ") and not is_stp_text("")
    assert not is_stp_text("\ufffd") and not is_stp_text("«") and not is_stp_text("_x")
    assert is_indent_text("\n    ") and is_indent_text("\t") and not is_indent_text("") and not is_indent_text(" a")


def test_token_sets(vocab):
    kw = {"python": ["def", "if", "is", "lambda", "yield from"], "go": ["if", "func"]}
    sets = build_token_sets(vocab, kw, ["the", "is", "zebra"])
    # bare + space forms, every token with that exact text, de-duplicated across languages
    assert sets.keyword_ids.tolist() == [2, 3, 4, 5, 15, 16, 19]
    assert sets.n_keywords == 6  # def if is lambda 'yield from' func
    assert sets.language_ids["python"].tolist() == [2, 3, 4, 5, 15, 16, 19]
    assert sets.language_ids["go"].tolist() == [4, 5]
    assert sets.language_n_keywords == {"python": 5, "go": 2}
    # STP: '#', ' //', '→' and the user-defined tag '<h1>' (rendered as text, although the shared
    # classifier files it under 'control'); not the incomplete byte, not '«', not the unused token
    assert sets.stp_ids.tolist() == [7, 8, 12, 14]
    assert sets.class_of([14, 13, 0]) == ["control", "unused", "control"]
    assert sets.control_mask.tolist() == [i in (0, 1) for i in range(len(TOKENS))]
    assert sets.indent_ids.tolist() == [9, 10]
    # NLP: 'the' in both forms and capitalised; 'is' removed because it is a keyword token
    assert sets.nlp_ids.tolist() == [6, 21, 22]
    assert sets.nlp_removed == 2
    as_listed = build_token_sets(vocab, kw, ["the", "is", "zebra"], nlp_capitalized=False)
    assert as_listed.nlp_ids.tolist() == [6, 21] and as_listed.rules["nlp_capitalized"] is False
    assert sets.sizes()["n_stp_tokens"] == 4
    t = sets.keyword_table
    assert set(t.columns) >= {"language", "keyword", "form", "token_id"}
    assert (t[(t.keyword == "lambda")].token_id == -1).all()
    assert sorted(t[(t.keyword == "def") & (t.form == "bare")].token_id) == [2, 19]
    cells = sets.cell_map()
    assert cells[2] == 1 and cells[7] == 2 and cells[6] == 4 and cells[9] == 8 and cells[0] == -1
    assert sets.display(0) == "<|endoftext|>" and sets.display(3) == " def"


def test_token_sets_forms_and_cache(vocab):
    kw = {"python": ["def"]}
    bare = build_token_sets(vocab, kw, ["the"], keyword_forms="bare")
    assert bare.keyword_ids.tolist() == [2, 19]
    assert build_token_sets(vocab, kw, ["the"], keyword_forms=["bare"]) is bare
    assert check_forms("space,newline") == ("space", "newline")
    with pytest.raises(InputError):
        check_forms("tab")
    with pytest.raises(InputError):
        build_token_sets(vocab, {"python": []}, ["the"])


# ---- helpers over probabilities ---------------------------------------------------------------


def test_holders_and_spearman():
    from tokprobe.coldstart import metrics
    p = np.array([0.05, 0.5, 0.3, 0.1, 0.05])
    h = metrics.holders(p)
    assert h == {0.80: 2, 0.85: 3, 0.90: 3, 0.95: 4}
    assert metrics.holders(np.zeros(3)) == {q: 0 for q in metrics.HOLD_LEVELS}
    assert metrics.holders(np.array([])) == {q: 0 for q in metrics.HOLD_LEVELS}
    a = np.array([0.1, 0.2, 0.3, 0.4])
    assert metrics.spearman(a, a**3) == pytest.approx(1.0)
    assert metrics.spearman(a, -a) == pytest.approx(-1.0)
    assert np.isnan(metrics.spearman(a, np.ones(4)))
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x, y = rng.random(50), rng.random(50)
    x[:5] = x[0]  # ties
    assert metrics.spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic)
    d = np.array([0.0, 0.3, 0.1, 0.3, 0.0])
    assert metrics.largest_shifts(np.zeros(5), d, 2).tolist() == [1, 3]
    assert metrics.largest_shifts(np.zeros(5), -d, 3).tolist() == [1, 3, 2]


class _TableModel:
    """A model double: ``vocab``, ``tokenize`` and next-token distributions given per context."""

    def __init__(self, vocab: TableVocab, rows: dict[tuple[int, ...], list[float]]) -> None:
        self.vocab, self.rows = vocab, rows
        self.asked: list[tuple[int, ...]] = []

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = False) -> np.ndarray:
        return self.vocab.tokenize(text, add_bos=add_bos, special=special)

    def logits(self, ctx: tuple[int, ...]) -> np.ndarray:
        uniform = [1.0 / self.vocab.n_vocab] * self.vocab.n_vocab
        return np.log(np.asarray(self.rows.get(ctx, uniform), dtype=np.float32))

    def logits_for_contexts(self, contexts: list[list[int]]) -> np.ndarray:
        self.asked += [tuple(c) for c in contexts]
        return np.stack([self.logits(tuple(c)) for c in contexts])


def test_chained_keywords_count_whole_words_only():
    """`for` and `foreach` (= `for` + `each`) overlap: P(`for`) holds P(`foreach`). Counted as whole
    words (a boundary token next) they are disjoint; `for(` extends `for` by a boundary token, so its
    mass is inside `for`'s and it is not summed."""
    from tokprobe.coldstart.chain import CHAIN_RULE, boundary_mask, chain_table, chained_mass

    vocab = TableVocab([("</s>", b"", "control"), ("<s>", b"", "control"), ("for", b"for", "normal"),
                        ("each", b"each", "normal"), ("(", b"(", "normal"), ("x", b"x", "normal")])
    assert boundary_mask(vocab.token_bytes).tolist() == [True, True, False, False, True, False]
    bos, for_, each, paren = (1,), 2, 3, 4
    model = _TableModel(vocab, {
        bos: [0.05, 0.05, 0.4, 0.1, 0.1, 0.3],                      # P(for) = 0.4
        (*bos, for_): [0.1, 0.05, 0.05, 0.3, 0.4, 0.1],             # P(each | for) = 0.3, boundary 0.55
        (*bos, for_, each): [0.2, 0.05, 0.05, 0.05, 0.5, 0.15],     # boundary after foreach 0.75
        (*bos, for_, paren): [0.5, 0.1, 0.1, 0.1, 0.1, 0.1],        # boundary after for( 0.7
    })
    sets = build_token_sets(vocab, {"x": ["for", "foreach", "for("]}, ["the"], keyword_forms="bare")
    cold = model.logits(bos)
    lse = float(np.log(np.exp(cold.astype(np.float64)).sum()))
    t = chain_table(model, bos, cold, lse, sets).set_index("keyword")
    assert t.loc["foreach", "piece_ids"] == f"{for_} {each}" and t.loc["for(", "piece_ids"] == f"{for_} {paren}"
    # The pieces alone overlap: 0.4 + 0.4 * 0.3 + 0.4 * 0.4 = 0.68 > P(first token is `for`) = 0.4.
    assert t["p"].to_numpy() == pytest.approx([0.4, 0.12, 0.16], rel=1e-5)
    # As whole words: for 0.4 * 0.55 = 0.22, foreach 0.4 * 0.3 * 0.75 = 0.09, for( 0.4 * 0.4 * 0.7 = 0.112.
    assert t["p_word"].to_numpy() == pytest.approx([0.22, 0.09, 0.112], rel=1e-5)
    assert t["counted"].tolist() == [True, True, False]
    assert chained_mass(t) == pytest.approx(0.31, rel=1e-5)  # for or foreach as a word; for( lies inside for
    assert "word-boundary" in CHAIN_RULE
