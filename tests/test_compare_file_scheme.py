"""The ``file`` scoring scheme: every file its own sequence, every token after the first scored once."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tokprobe.compare import compare
from tokprobe.errors import InputError
from tokprobe.models import load, plan_windows, quantize
from tokprobe.testing import make_tiny_model, write_tokenizer_variant

N_CTX = 64
PY = "\n".join(f"def f{i}(x, y=None):\n    return [x * {i} for _ in range(y or {i})]\n" for i in range(12))
FILES = {  # the long python file first: the concatenated llama scheme never reaches the short ones whole
    "a_long.py": PY,
    "b.rs": 'fn main() {\n    println!("hi");\n}\n',
    "c.go": "package main\n\nfunc add(a, b int) int { return a + b }\n",
    "d.rb": "def greet(name)\n  puts \"hi #{name}\"\nend\n",
    "e.c": "int sq(int x) { return x * x; }\n",
}


class _Stop(Exception):
    pass


def _bos_tokenizer(d: Path, model: Path) -> Path:
    """A tiny model like ``model`` whose vocabulary adds BOS."""
    src = write_tokenizer_variant(model, d / "tok-bos.gguf", add_bos=True)
    return make_tiny_model(d / "tiny-bos.gguf", tokenizer_from=src, seed=0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("file-scheme")
    f16 = make_tiny_model(d / "tiny-F16.gguf", seed=0)
    q8 = quantize(f16, "Q8_0", d / "tiny-Q8_0.gguf")
    corpus = d / "corpus"
    corpus.mkdir()
    for name, text in FILES.items():
        (corpus / name).write_text(text)
    bos = _bos_tokenizer(d, f16)
    return SimpleNamespace(dir=d, f16=f16, q8=q8, bos=bos, corpus=corpus)


def _run(tiny: SimpleNamespace, run_dir: Path, ref: Path | None = None, variants: list[Path] | None = None,
         **kw: object) -> object:
    kw.setdefault("n_ctx", N_CTX)
    kw.setdefault("cache_dir", tiny.dir / "refcache")
    return compare(ref or tiny.f16, variants or [tiny.q8], tiny.corpus, run_dir=run_dir, **kw)


def _per_language(windows: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in windows["files"]:
        out[f["language"]] = out.get(f["language"], 0) + f["scored"]
    return out


# -- the planner -------------------------------------------------------------------------------------
@pytest.mark.parametrize("add_bos", [False, True])
def test_plan_scores_every_token_of_every_file_once(add_bos: bool) -> None:
    lengths = [5, 1, 40, 130, 2]
    first = 1 if add_bos else 0
    starts = list(np.cumsum([first, *lengths[:-1]]))
    n = first + sum(lengths)
    wins = plan_windows(n, 32, scheme="file", add_bos=add_bos, file_starts=starts)
    scored = np.concatenate([w.positions + 1 for w in wins])  # the targets
    assert len(scored) == len(set(scored.tolist()))  # each at most once
    want = [t for s, m in zip(starts, lengths, strict=True) for t in range(s + (0 if add_bos else 1), s + m)]
    assert sorted(scored.tolist()) == want  # every token after the first of its sequence
    for w in wins:
        f = int(np.searchsorted(starts, w.start + (1 if add_bos else 0), side="right") - 1)
        end = starts[f] + lengths[f]
        assert w.bos_first is add_bos and w.split
        assert starts[f] - first <= w.start and w.end <= end  # never crosses a file
        assert w.end - w.start <= 32
        if w.start > starts[f] - first:  # a continuation window keeps at least half a window of context
            assert w.lo + 1 >= 16
    assert sum(1 for w in wins if w.end > starts[3] and w.start < starts[3] + lengths[3]) > 1  # the long file


def test_plan_errors() -> None:
    with pytest.raises(InputError, match="slot before"):
        plan_windows(10, 8, scheme="file", add_bos=True, file_starts=[0, 5])
    with pytest.raises(InputError, match="ascending"):
        plan_windows(10, 8, scheme="file", file_starts=[5, 2])
    with pytest.raises(InputError, match="stride"):
        plan_windows(10, 8, scheme="file", add_bos=True, stride=7, file_starts=[1])
    with pytest.raises(InputError, match="file_starts"):
        plan_windows(10, 8, scheme="sliding", file_starts=[0])


# -- on a model --------------------------------------------------------------------------------------
def test_file_scheme_scores_every_language_the_llama_scheme_misses(tiny: SimpleNamespace, tmp_path: Path) -> None:
    llama = _run(tiny, tmp_path / "llama", scheme="llama")
    lw = llama.provenance.settings["windows"]
    assert min(_per_language(lw).values()) == 0  # the concatenated llama scheme misses a language
    r = _run(tiny, tmp_path / "file", scheme="file")
    fw = r.provenance.settings["windows"]
    assert r.provenance.settings["scheme"] == "file"
    assert [f["scored"] for f in fw["files"]] == [f["tokens"] - 1 for f in fw["files"]]  # no BOS: all but the first
    assert fw["n_scored"] == len(r.tokens) == sum(f["tokens"] - 1 for f in fw["files"])
    assert fw["n_windows"] == len(r.plan) > len(FILES)  # the long file takes several windows
    assert min(_per_language(fw).values()) > 0
    stream = r.stream
    for w in r.plan:  # no window crosses a file boundary
        assert len(set(stream.file[w.start:w.end].tolist())) == 1


def _logp(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(x - m).sum(axis=1))
    return np.asarray(x[np.arange(len(targets)), targets] - lse)


@pytest.mark.parametrize("bos", [False, True])
def test_file_scheme_equals_decoding_each_file_alone(tiny: SimpleNamespace, tmp_path: Path, bos: bool) -> None:
    ref = tiny.bos if bos else tiny.f16
    r = _run(tiny, tmp_path / "run", ref=ref, variants=[ref], scheme="file", n_ctx=512)
    arrays = r.per_variant[r.variants[0]]
    got = dict(zip(arrays["positions"].tolist(), arrays["logp_ref"].tolist(), strict=True))
    m = load(ref, n_ctx=512, n_batch=512, threads=2)
    try:
        assert m.vocab.add_bos is bos
        n_checked = 0
        for fs in r.stream.files:
            ids = r.stream.ids[fs.token_start:fs.token_start + fs.n_tokens]
            seq = np.concatenate([[m.vocab.bos_id], ids]).astype(np.int32) if bos else ids
            want = _logp(m.logits_all(seq[:-1]), seq[1:])
            first = fs.token_start - (1 if bos else 0)  # the stream position of the sequence's first row
            have = np.array([got[first + j] for j in range(len(want))])
            np.testing.assert_allclose(have, want, atol=1e-3)
            n_checked += len(want)
        assert n_checked == len(got)
    finally:
        m.close()


def test_long_file_windows_equal_one_call_per_window(tiny: SimpleNamespace, tmp_path: Path) -> None:
    r = _run(tiny, tmp_path / "run", variants=[tiny.f16], scheme="file", n_ctx=32)
    arrays = r.per_variant[r.variants[0]]
    got = dict(zip(arrays["positions"].tolist(), arrays["logp_ref"].tolist(), strict=True))
    ids = r.stream.ids
    m = load(tiny.f16, n_ctx=64, n_batch=64, threads=2)
    try:
        long_windows = [w for w in r.plan if r.stream.file[w.start] == 0]
        assert len(long_windows) >= 3
        for w in long_windows[1:]:
            assert w.lo >= 32 // 2 - 1  # every scored row sees at least n_ctx/2 tokens
            want = _logp(m.logits_all(ids[w.start:w.start + w.hi]), ids[w.start + 1:w.start + w.hi + 1])
            have = np.array([got[int(p)] for p in w.positions])
            np.testing.assert_allclose(have, want[w.lo:], atol=1e-3)
    finally:
        m.close()


@pytest.mark.parametrize("mode", ["lockstep", "cache-exact"])
def test_interrupted_file_run_resumes_to_the_same_result(tiny: SimpleNamespace, tmp_path: Path, mode: str) -> None:
    kw = dict(scheme="file", n_ctx=32, mode=mode)
    full = _run(tiny, tmp_path / "full", cache_dir=tmp_path / "c1", **kw)
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if done > seen[0] and done >= 40:
            raise _Stop()

    with pytest.raises(_Stop):
        _run(tiny, tmp_path / "run", cache_dir=tmp_path / "c2", progress=progress, **kw)
    again: list[int] = []
    resumed = _run(tiny, tmp_path / "run", cache_dir=tmp_path / "c2", progress=lambda d, t: again.append(d), **kw)
    assert again[0] > 0  # finished windows were not decoded again
    cols = [c for c in full.summary.columns if c != "var_sha256"]
    pd.testing.assert_frame_equal(resumed.tokens, full.tokens, check_exact=True)
    pd.testing.assert_frame_equal(resumed.summary[cols], full.summary[cols], check_exact=True)


# -- the codec floor of cache-exact (issue 14, item 7) -------------------------------------------------------
def test_cache_exact_reports_the_float16_codec_floor(tiny: SimpleNamespace, tmp_path: Path) -> None:
    r = _run(tiny, tmp_path / "run", mode="cache-exact", cache_dir=tmp_path / "cache", n_ctx=32)
    assert r.floor["self_kl_max"] == 0.0  # the same decode twice
    codec = r.floor["codec_floor_kl_max"]
    assert 0.0 < codec < 1e-4  # float16 rounding of the reference's log-probs: small but not zero
    assert r.summary.loc[0, "codec_floor_kl_max"] == codec
    lock = _run(tiny, tmp_path / "lock", n_ctx=32)
    assert "codec_floor_kl_max" not in lock.floor
