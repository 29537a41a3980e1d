"""llama.cpp's --kl-divergence-base files: the row codec, the reader's checks, and a round trip through compare."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tokprobe.compare import compare
from tokprobe.compare.llamacpp_file import (
    CUT,
    dequantize,
    divergence_rows,
    open_base_file,
    quantize,
    row_width,
    write_base_file,
)
from tokprobe.errors import FileFormatError, InputError


def _logits(rows: int, vocab: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(0, 4, (rows, vocab))).astype(np.float32)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def test_rows_round_trip_to_the_quantization_step() -> None:
    x = _logits(5, 1001)
    raw = quantize(x)
    assert raw.shape == (5, row_width(1001)) == (5, 1006) and raw.dtype == np.uint16
    lp, floor = dequantize(raw, 1001)
    true = _log_softmax(x)
    keep = true > true.max(axis=1, keepdims=True) - 16  # llama.cpp keeps 16 nats below the top
    step = (x.max(axis=1) - np.maximum(x.min(axis=1), x.max(axis=1) - 16)) / 65535
    assert np.all(np.abs(lp - true)[keep] <= (step[:, None] * np.ones_like(lp))[keep] * 0.5 + 1e-5)
    assert np.allclose(floor, np.maximum(true.min(axis=1), true.max(axis=1) - 16), atol=1e-5)


def test_divergence_follows_llama_cpp_rule_by_hand() -> None:
    ref, var = _logits(3, 64, 1), _logits(3, 64, 2)
    raw = quantize(ref)
    t = np.array([0, 5, 63])
    got = divergence_rows(raw, var, t)
    lp, _ = dequantize(raw, 64)
    lq = _log_softmax(var)
    for r in range(3):  # llama.cpp: sum over base log-probs above -16 of p * (log p - log q)
        want = sum(math.exp(lp[r, i]) * (lp[r, i] - lq[r, i]) for i in range(64) if lp[r, i] > CUT)
        assert math.isclose(got["kl"][r], want, rel_tol=1e-9)
        assert got["logp_ref"][r] == lp[r, t[r]] and math.isclose(got["logp_var"][r], lq[r, t[r]])
        assert got["argmax_ref"][r] == int(np.argmax(lp[r])) and got["argmax_var"][r] == int(np.argmax(var[r]))
    same = divergence_rows(raw, ref, t)
    assert np.all(same["kl"] < 1e-3) and np.all(same["top5_overlap"] == 1.0)


def test_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"not a base file at all")
    with pytest.raises(FileFormatError, match="no _logits_ header"):
        open_base_file(bad)
    good = write_base_file(tmp_path / "g.bin", 8, 50, np.arange(16, dtype=np.int32),
                           [_logits(3, 50), _logits(3, 50, 1)])
    assert open_base_file(good).n_chunk == 2
    cut = tmp_path / "cut.bin"
    cut.write_bytes(good.read_bytes()[:-2])
    with pytest.raises(FileFormatError, match="truncated"):
        open_base_file(cut)
    with pytest.raises(InputError, match="scored rows"):
        write_base_file(tmp_path / "short.bin", 8, 50, np.arange(16, dtype=np.int32), [_logits(3, 50)])
    assert not (tmp_path / "short.bin").exists() and not (tmp_path / "short.bin.tmp").exists()
    with pytest.raises(InputError, match="not found"):
        open_base_file(tmp_path / "missing.bin")


def test_write_then_read_as_the_reference_agrees_with_the_exact_run(tiny_model_path: Path, tiny_model_path_b: Path,
                                                                     tmp_path: Path) -> None:
    corpus = tmp_path / "one.py"
    corpus.write_text("".join(f"def f{i}(x, y=None):\n    return [x * {i} for _ in range(y)]\n" for i in range(12)))
    kw = dict(n_ctx=32, scheme="llama", cache_dir=tmp_path / "cache", floor=False)
    base = tmp_path / "ref.kld"
    exact = compare(tiny_model_path, [tiny_model_path_b], corpus, run_dir=tmp_path / "a", write_kld_base=base, **kw)
    f = open_base_file(base)
    assert f.n_ctx == 32 and f.n_chunk == len(exact.plan)
    read = compare(tiny_model_path, [tiny_model_path_b], corpus, run_dir=tmp_path / "b", kld_base=base, **kw)
    a, b = exact.summary.iloc[0], read.summary.iloc[0]
    assert a["n_tokens"] == b["n_tokens"]
    assert math.isclose(a["kl_mean"], b["kl_mean"], rel_tol=0.02)
    assert abs(a["same_top1"] - b["same_top1"]) <= 0.02
    assert math.isclose(a["ppl_ref"], b["ppl_ref"], rel_tol=0.005)
    assert read.provenance.settings["reference_file"]["sha256"]
    with pytest.raises(InputError, match="--ctx 32"):
        compare(tiny_model_path, [tiny_model_path_b], corpus, run_dir=tmp_path / "c", kld_base=base,
                **{**kw, "n_ctx": 64})
    with pytest.raises(InputError, match="--scheme llama"):
        compare(tiny_model_path, [tiny_model_path_b], corpus, run_dir=tmp_path / "d", kld_base=base,
                **{**kw, "scheme": "file"})
