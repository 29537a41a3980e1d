"""tokprobe.models on tiny generated models: loading, metadata, tokenizer, streaming evaluation,
cold start, batched contexts, generation, quantization."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from tokprobe.errors import EmptyInputError, Error, InputError
from tokprobe.models import (
    KIND_NAMES,
    EvalBatch,
    load,
    model_info,
    plan_windows,
    quantize,
    quantize_many,
    validate_gguf,
)
from tokprobe.testing import make_tiny_model

CODE = '''def fibonacci(n: int) -> int:
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


class Stack:
    def __init__(self):
        self.items = []  # héllo ✓ 日本語

    def push(self, x):
        self.items.append(x)
'''


@pytest.fixture(scope="module")
def tiny(tiny_model_path: Path):
    m = load(tiny_model_path, n_ctx=256, n_batch=64, threads=2)
    yield m
    m.close()


@pytest.fixture(scope="module")
def ids(tiny) -> np.ndarray:
    return tiny.tokenize(CODE * 3)


# -- making tiny models -----------------------------------------------------------------------------
def test_make_tiny_model_is_deterministic(tiny_model_path: Path, tmp_path: Path) -> None:
    again = make_tiny_model(tmp_path / "again.gguf", seed=0)
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(tiny_model_path.read_bytes()).digest()
    other = make_tiny_model(tmp_path / "other.gguf", seed=5, n_embd=64, n_layer=1)
    h = validate_gguf(other)
    assert h.arch_value("embedding_length") == 64 and h.arch_value("block_count") == 1


def test_make_tiny_model_rejects_bad_shapes(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        make_tiny_model(tmp_path / "x.gguf", n_embd=100)
    with pytest.raises(InputError):
        make_tiny_model(tmp_path / "x.gguf", n_layer=0)


# -- loading and metadata ---------------------------------------------------------------------------
def test_load_and_info(tiny, tiny_model_path: Path) -> None:
    info = tiny.info
    assert info.arch == "llama" and info.file_type == "F16" and info.file_type_id == 1
    assert info.n_vocab == tiny.n_vocab == 49152
    assert info.vocab_type == "bpe" and info.pre_tokenizer == "smollm"
    assert info.bos_id == 1 and info.eos_id == 2 and info.add_bos is False
    assert info.has_chat_template is True
    assert info.n_embd == 256 and info.n_layer == 2
    assert info.file_size == tiny_model_path.stat().st_size
    assert info.sha256 == hashlib.sha256(tiny_model_path.read_bytes()).hexdigest()
    assert 16.0 < info.bits_per_weight < 16.01
    d = info.to_dict()
    assert d["name"] == tiny_model_path.stem and d["kind_counts"]["control"] == 17
    assert tiny.threads == 2 and tiny.n_ctx == 256 and tiny.n_batch == 64
    prov = tiny.provenance()
    assert prov["sha256"] == info.sha256 and prov["seed"] == 0


def test_model_info_without_weights(tiny_model_path: Path) -> None:
    info = model_info(tiny_model_path)
    assert info.n_params > 10_000_000 and info.n_vocab == 49152


def test_vocab_only_model_cannot_evaluate(tiny_model_path: Path) -> None:
    with load(tiny_model_path, vocab_only=True) as m:
        assert m.tokenize("x = 1").size > 0
        with pytest.raises(InputError, match="vocab_only"):
            m.evaluate([1, 2, 3])
        with pytest.raises(InputError, match="vocab_only"):
            m.logits_after([1, 2])


def test_bad_load_arguments(tiny_model_path: Path) -> None:
    with pytest.raises(InputError):
        load(tiny_model_path, threads=0)
    with pytest.raises(InputError):
        load(tiny_model_path, n_ctx=1)
    with pytest.raises(InputError):
        load("no-such-model-name")


def test_closed_model_raises(tiny_model_path: Path) -> None:
    m = load(tiny_model_path, n_ctx=32, threads=1)
    m.close()
    with pytest.raises(Error, match="closed"):
        m.tokenize("x")
    m.close()  # idempotent


# -- tokenizer --------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "x", " leading space", "a\n\n\tb  ", CODE, "héllo ✓ 日本語 🙂",
                                  "<|im_start|>user\nhi<|im_end|>"])
def test_round_trip_is_byte_exact(tiny, text: str) -> None:
    ids = tiny.tokenize(text)
    assert ids.dtype == np.int32
    assert tiny.detokenize(ids) == text.encode("utf-8")


def test_detokenize_is_not_cleaned_unless_asked(tiny) -> None:
    text = "a , b . c ?"  # llama.cpp's clean-up would join " ." and " ,"
    ids = tiny.tokenize(text)
    assert tiny.detokenize(ids) == text.encode()
    assert isinstance(tiny.detokenize(ids, clean_spaces=True), bytes)
    assert tiny.detokenize(tiny.tokenize("x = 1"), clean_spaces=True) == b"x = 1"


def test_special_tokens(tiny) -> None:
    text = "<|im_start|>user"
    plain = tiny.tokenize(text)
    parsed = tiny.tokenize(text, special=True)
    assert parsed[0] == 1 and len(parsed) < len(plain)  # <|im_start|> is id 1 in smollm2
    assert tiny.detokenize(parsed, special=True) == text.encode()
    assert tiny.detokenize(parsed) == b"user"  # control tokens contribute nothing by default


def test_add_bos_options(tiny) -> None:
    v = tiny.vocab
    assert tiny.tokenize("x")[0] != v.bos_id  # smollm2 does not add BOS
    with_bos = tiny.tokenize("x", add_bos=True)
    assert with_bos[0] == v.bos_id and list(with_bos[1:]) == list(tiny.tokenize("x"))
    assert list(tiny.tokenize("x", add_bos=False)) == list(tiny.tokenize("x"))


def test_tokenize_bytes_and_bad_input(tiny) -> None:
    assert list(tiny.tokenize(b"def f")) == list(tiny.tokenize("def f"))
    with pytest.raises(InputError):
        tiny.tokenize(123)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="outside the vocabulary"):
        tiny.detokenize([0, 49152])
    with pytest.raises(InputError):
        tiny.detokenize([-1])


def test_vocab_tables(tiny) -> None:
    v = tiny.vocab
    assert len(v.pieces) == len(v.token_bytes) == v.n_vocab == 49152
    assert v.pieces[0] == "<|endoftext|>" and v.kind[0] == KIND_NAMES.index("control")
    i = int(tiny.tokenize(" return")[0])
    assert v.pieces[i] == "Ġreturn" and v.token_bytes[i] == b" return"
    assert v.kind[i] == KIND_NAMES.index("normal") and v.base_mask[i]
    assert not v.base_mask[0]
    counts = v.kind_counts()
    assert counts["control"] == 17 and counts["normal"] == 49135 and sum(counts.values()) == v.n_vocab
    # the bytes of a token sequence are the concatenation of its tokens' bytes
    ids = tiny.tokenize(CODE)
    assert b"".join(v.token_bytes[int(t)] for t in ids) == CODE.encode()
    assert len(v.digest) == 64
    assert v.first_difference(v) is None


def test_vocab_first_difference(tiny_model_path: Path, tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("gguf") is None:  # pragma: no cover
        pytest.skip("gguf missing")
    with load(tiny_model_path, vocab_only=True) as a, load(tiny_model_path, vocab_only=True) as b:
        assert a.vocab.digest == b.vocab.digest and a.vocab.first_difference(b.vocab) is None
        b.vocab.__dict__["pieces"] = list(b.vocab.pieces[:100]) + ["CHANGED"] + list(b.vocab.pieces[101:])
        assert a.vocab.first_difference(b.vocab) == (100, a.vocab.pieces[100], "CHANGED")


# -- window plans -----------------------------------------------------------------------------------
@pytest.mark.parametrize("n,n_ctx,stride,bos", [(2, 8, None, False), (10, 8, 4, False), (100, 16, 5, True),
                                                (100, 16, 15, True), (100, 16, 16, False), (17, 16, 16, False),
                                                (1000, 64, None, True)])
def test_sliding_scores_every_target_once(n: int, n_ctx: int, stride, bos: bool) -> None:
    wins = plan_windows(n, n_ctx, scheme="sliding", stride=stride, add_bos=bos)
    scored = [w.start + j for w in wins for j in range(w.lo, w.hi)]
    assert scored == list(range(n - 1))
    for w in wins:
        assert 0 <= w.lo < w.hi <= w.end - w.start <= n_ctx
        if w.bos_first:
            assert w.lo >= 1  # the BOS row has no real context


def test_llama_scheme_plan() -> None:
    wins = plan_windows(1000, 128, scheme="llama", add_bos=True)
    assert len(wins) == 7  # partial last chunk dropped
    assert all(w.lo == 64 and w.hi == 127 and w.bos_first for w in wins)
    assert [w.start for w in wins] == [128 * i for i in range(7)]


def test_plan_errors() -> None:
    with pytest.raises(EmptyInputError):
        plan_windows(1, 8, scheme="sliding")
    with pytest.raises(EmptyInputError):
        plan_windows(50, 64, scheme="llama")
    with pytest.raises(InputError):
        plan_windows(100, 16, scheme="sliding", stride=16, add_bos=True)
    with pytest.raises(InputError):
        plan_windows(100, 16, scheme="sliding", stride=0)
    with pytest.raises(InputError):
        plan_windows(100, 16, scheme="nope")


# -- streaming evaluation ---------------------------------------------------------------------------
def _collect(model, ids, **kw) -> dict[int, np.ndarray]:
    got: dict[int, np.ndarray] = {}
    for b in model.evaluate(ids, **kw):
        assert isinstance(b, EvalBatch)
        assert b.logits.dtype == np.float32 and b.logits.shape == (b.rows, model.n_vocab)
        assert b.logits.flags["C_CONTIGUOUS"] and not b.logits.flags["OWNDATA"]
        assert list(b.targets) == [int(ids[p + 1]) for p in b.positions]
        for r, p in enumerate(b.positions):
            assert int(p) not in got
            got[int(p)] = b.logits[r].copy()
    return got


def _window_reference(model, ids, n_ctx, scheme, stride) -> dict[int, np.ndarray]:
    ref: dict[int, np.ndarray] = {}
    for w in plan_windows(len(ids), n_ctx, scheme=scheme, stride=stride, add_bos=model.vocab.add_bos):
        tok = np.array(ids[w.start:w.end], dtype=np.int32)
        if w.bos_first:
            tok[0] = model.vocab.bos_id
        full = model.logits_all(tok[:w.hi])  # the whole window in ONE llama_decode call
        for j in range(w.lo, w.hi):
            ref[w.start + j] = full[j]
    return ref


@pytest.mark.parametrize("scheme,stride", [("sliding", 24), ("sliding", 64), ("llama", None)])
def test_streaming_equals_one_call_per_window(tiny, ids, scheme: str, stride) -> None:
    n_ctx = 64
    got = _collect(tiny, ids, n_ctx=n_ctx, batch=n_ctx, scheme=scheme, stride=stride)
    ref = _window_reference(tiny, ids, n_ctx, scheme, stride)
    assert sorted(got) == sorted(ref)
    assert max(float(np.abs(got[p] - ref[p]).max()) for p in got) <= 1e-4


@pytest.mark.parametrize("batch", [16, 7])
def test_small_batches_match_closely(tiny, ids, batch: int) -> None:
    """Batches smaller than the window: same rows; llama.cpp's CPU kernels depend slightly on the
    number of rows per decode, so equality is to float noise (see Model docs), not bit-exact."""
    ids = ids[:200]
    got = _collect(tiny, ids, n_ctx=64, batch=batch, scheme="sliding", stride=24)
    ref = _window_reference(tiny, ids, 64, "sliding", 24)
    assert sorted(got) == sorted(ref)
    diffs = np.array([float(np.abs(got[p] - ref[p]).max()) for p in got])
    assert np.median(diffs) < 1e-3 and diffs.max() < 0.05


def test_start_window_resumes(tiny, ids) -> None:
    full = _collect(tiny, ids, n_ctx=64, batch=32, scheme="sliding", stride=24)
    wins = plan_windows(len(ids), 64, scheme="sliding", stride=24, add_bos=False)
    first = None
    for b in tiny.evaluate(ids, n_ctx=64, batch=32, scheme="sliding", stride=24, start_window=3):
        first = first or (b.window, int(b.positions[0]))
        for r, p in enumerate(b.positions):  # compare while the view is valid
            assert np.array_equal(b.logits[r], full[int(p)])
    assert first == (3, wins[3].start + wins[3].lo)
    with pytest.raises(InputError):
        tiny.evaluate(ids, n_ctx=64, scheme="sliding", start_window=10**6)


def test_views_are_zero_copy_and_reused(tiny, ids) -> None:
    it = tiny.evaluate(ids[:100], n_ctx=32, batch=16, scheme="sliding", stride=16)
    first = next(it)
    saved = first.logits.copy()
    second = next(it)
    assert first.rows == second.rows == 16
    # Both are views of llama.cpp's one output buffer: the old view now shows the new rows.
    assert first.logits.__array_interface__["data"][0] == second.logits.__array_interface__["data"][0]
    assert np.array_equal(first.logits, second.logits) and not np.array_equal(saved, second.logits)
    with pytest.raises(ValueError):
        second.logits[0, 0] = 1.0  # read-only: never write into llama.cpp's buffer


def test_evaluate_is_deterministic_and_batch_sizes_cover_all(tiny, ids) -> None:
    ids = ids[:200]
    a = _collect(tiny, ids, n_ctx=48, batch=48, scheme="sliding", stride=20)
    b = _collect(tiny, ids, n_ctx=48, batch=48, scheme="sliding", stride=20)
    assert all(np.array_equal(a[p], b[p]) for p in a)
    assert sorted(a) == list(range(len(ids) - 1))


def test_window_bos_replacement_llama_scheme(tiny_model_path: Path, tiny) -> None:
    # smollm2 does not add BOS: chunks keep their first token. Positions in [n_ctx//2, n_ctx-2].
    ids = tiny.tokenize(CODE * 3)
    got = [b for b in tiny.evaluate(ids, n_ctx=32, scheme="llama")]
    pos = np.concatenate([b.positions for b in got])
    wp = np.concatenate([b.window_pos for b in got])
    assert wp.min() == 16 and wp.max() == 30
    assert len(pos) == (len(ids) // 32) * 15


def test_progress_and_errors(tiny, ids) -> None:
    calls = []
    list(tiny.evaluate(ids, n_ctx=64, batch=32, scheme="sliding", progress=lambda d, t: calls.append((d, t))))
    assert calls[0] == (0, len(ids) - 1) and calls[-1] == (len(ids) - 1, len(ids) - 1)
    with pytest.raises(InputError):
        tiny.evaluate(ids, batch=0)
    with pytest.raises(InputError, match="outside the vocabulary"):
        tiny.evaluate([1, 2, 10**6])
    with pytest.raises(EmptyInputError):
        tiny.evaluate([5])


def test_interleaving_invalidates_old_iterator(tiny, ids) -> None:
    it = tiny.evaluate(ids, n_ctx=32, batch=8, scheme="sliding")
    next(it)
    tiny.logits_after(ids[:3])
    with pytest.raises(Error, match="no longer valid"):
        next(it)


def test_context_grows_on_demand(tiny_model_path: Path) -> None:
    with load(tiny_model_path, n_ctx=32, n_batch=16, threads=1) as m:
        ids = m.tokenize(CODE)
        rows = sum(b.rows for b in m.evaluate(ids, n_ctx=80, batch=40, scheme="sliding"))
        assert rows == len(ids) - 1
        assert m.n_ctx >= 80 and m.n_batch >= 40


def test_memory_does_not_grow_with_text(tiny_model_path: Path) -> None:
    import resource

    with load(tiny_model_path, n_ctx=64, n_batch=32, threads=2) as m:
        ids = m.tokenize(CODE * 2)
        list(m.evaluate(ids, n_ctx=64, batch=32, scheme="sliding", stride=63))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        long_ids = np.tile(ids, 5)
        n = 0
        for b in m.evaluate(long_ids, n_ctx=64, batch=32, scheme="sliding", stride=63):
            n += b.rows
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert n == len(long_ids) - 1
    assert after - before < 20_000  # KiB: no per-batch or per-token growth


# -- cold start and batched contexts ----------------------------------------------------------------
def test_logits_after_matches_evaluator_row(tiny, ids) -> None:
    ref = tiny.logits_all(ids[:40])
    for k in (1, 2, 17, 40):
        out = tiny.logits_after(ids[:k])
        assert out.shape == (tiny.n_vocab,) and out.dtype == np.float32
        # the same decode gives the same row; a one-row decode runs llama.cpp's vector kernels, whose
        # float noise against the 40-row matrix kernels depends on the CPU the wheel was built for
        assert np.abs(out - tiny.logits_all(ids[:k])[-1]).max() <= 1e-3
        assert np.abs(out - ref[k - 1]).max() <= (1e-3 if k > 1 else 1e-2)
    with pytest.raises(EmptyInputError):
        tiny.logits_after([])


def test_logits_for_contexts_separate_sequences(tiny, ids) -> None:
    ctxs = [ids[:5], ids[:1], ids[3:20], ids[:40], [tiny.vocab.bos_id]]
    many = tiny.logits_for_contexts(ctxs)
    assert many.shape == (5, tiny.n_vocab)
    for row, c in zip(many, ctxs, strict=True):
        assert np.abs(row - tiny.logits_after(c)).max() <= 1e-2  # float noise of other kernels
    # more contexts than fit in one decode are split transparently
    lots = [ids[i:i + 9] for i in range(0, 90, 1)]
    out = tiny.logits_for_contexts(lots)
    assert out.shape == (90, tiny.n_vocab)
    assert np.abs(out[77] - tiny.logits_after(lots[77])).max() <= 1e-2
    assert tiny.logits_for_contexts([]).shape == (0, tiny.n_vocab)
    with pytest.raises(EmptyInputError):
        tiny.logits_for_contexts([ids[:3], []])


# -- generation -------------------------------------------------------------------------------------
def test_greedy_generation_is_argmax(tiny, ids) -> None:
    g = tiny.generate(ids[:10], max_tokens=5)
    assert g.stop_reason == "length" and len(g.token_ids) == 5 and g.n_prompt_tokens == 10
    first = tiny.logits_for_contexts([ids[:10]])[0]  # one output row, as generation decodes it
    assert g.token_ids[0] == int(np.argmax(first))
    again = tiny.generate(ids[:10], max_tokens=5)
    assert again.token_ids == g.token_ids
    assert g.text == tiny.detokenize(g.token_ids).decode("utf-8", "replace")


def test_seeded_sampling(tiny, ids) -> None:
    a = tiny.generate(ids[:10], max_tokens=12, temperature=1.5, top_p=0.95, seed=7)
    b = tiny.generate(ids[:10], max_tokens=12, temperature=1.5, top_p=0.95, seed=7)
    c = tiny.generate(ids[:10], max_tokens=12, temperature=1.5, top_p=0.95, seed=8)
    assert a.token_ids == b.token_ids and a.seed == 7
    assert a.token_ids != c.token_ids


def test_stop_sequences_and_eos(tiny, ids) -> None:
    g = tiny.generate(ids[:10], max_tokens=8)
    piece = tiny.vocab.token_bytes[g.token_ids[2]].decode("utf-8", "replace")
    s = tiny.generate(ids[:10], max_tokens=8, stop=[piece])
    assert s.stop_reason == "stop" and s.stop_sequence == piece
    assert piece not in s.text and len(s.token_ids) <= 3
    z = tiny.generate(ids[:10], max_tokens=0)
    assert z.token_ids == [] and z.stop_reason == "length"
    with pytest.raises(InputError):
        tiny.generate(ids[:10], top_p=0)
    with pytest.raises(EmptyInputError):
        tiny.generate("")  # smollm2 adds no BOS: nothing to condition on


def test_generation_from_string_and_chat_prompt(tiny) -> None:
    prompt = tiny.chat_prompt("Write a function.", system="Be brief.")
    assert prompt is not None and prompt.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert prompt.rstrip().endswith("<|im_start|>assistant")
    g = tiny.generate(prompt, max_tokens=3)
    assert g.n_prompt_tokens == len(tiny.tokenize(prompt, special=True))


# -- quantization -----------------------------------------------------------------------------------
def test_quantize_tiny_q8_q4km_idempotent(tiny_model_path: Path, tmp_path: Path) -> None:
    seen = []
    res = quantize_many(tiny_model_path, "Q8_0,q4_k_m", tmp_path, threads=2, progress=lambda d, t: seen.append((d, t)))
    assert [r.type for r in res] == ["Q8_0", "Q4_K_M"] and not any(r.reused for r in res)
    n = validate_gguf(tiny_model_path).n_tensors
    assert seen[-1] == (2 * n, 2 * n) and len(seen) > 4  # per-tensor progress from llama.cpp's log
    for r in res:
        assert r.path.name == f"{tiny_model_path.stem}-{r.type}.gguf"
        h = validate_gguf(r.path)
        assert h.file_type == r.type
        assert (r.path.parent / (r.path.name + ".json")).is_file()
        with load(r.path, n_ctx=32, threads=1) as m:
            assert m.info.file_type == r.type
            assert np.isfinite(m.logits_after([1, 2, 3])).all()
    bits = {r.type: validate_gguf(r.path).bits_per_weight for r in res}
    assert 8.0 < bits["Q8_0"] < 9.0 and 4.0 < bits["Q4_K_M"] < 7.0
    mtimes = [r.path.stat().st_mtime_ns for r in res]
    again = quantize_many(tiny_model_path, ["Q8_0", "Q4_K_M"], tmp_path)
    assert all(r.reused for r in again) and [r.path.stat().st_mtime_ns for r in again] == mtimes
    # a different source with the same output name is not reused
    sidecar = res[0].path.parent / (res[0].path.name + ".json")
    import json

    meta = json.loads(sidecar.read_text())
    meta["source_sha256"] = "0" * 64
    sidecar.write_text(json.dumps(meta))
    assert quantize(tiny_model_path, "Q8_0", res[0].path) == res[0].path
    assert res[0].path.stat().st_mtime_ns != mtimes[0]
    assert json.loads(sidecar.read_text())["source_sha256"] != "0" * 64


def test_quantize_errors(tiny_model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown quantization type"):
        quantize(tiny_model_path, "Q9_9", tmp_path / "x.gguf")
    with pytest.raises(InputError, match="importance matrix|imatrix"):
        quantize(tiny_model_path, "IQ2_XXS", tmp_path / "y.gguf", threads=1)
    assert not (tmp_path / "y.gguf").exists()  # nothing half-written is left behind
    assert not list(tmp_path.glob(".y.gguf.*"))


def test_quant_type_table() -> None:
    from tokprobe.models import DEFAULT_LADDER, QUANT_TYPES, normalize_type

    assert QUANT_TYPES["Q4_K_M"] == 15 and QUANT_TYPES["F16"] == 1 and QUANT_TYPES["F32"] == 0
    assert set(DEFAULT_LADDER) <= set(QUANT_TYPES)
    assert "GUESSED" not in QUANT_TYPES
    assert normalize_type("llama_ftype_mostly_q6_k") == ("Q6_K", 18)
