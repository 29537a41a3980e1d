"""Crafted hyperparameters: what llama.cpp would abort the process on is one error line before it loads
anything, a load failure names llama.cpp's cause, and a property test mutates header values of a tiny
model and checks that loading it never kills the process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import gguf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokprobe.errors import FileFormatError
from tokprobe.models import load, validate_gguf
from tokprobe.testing import make_tiny_model, patch_u32, u32_keys, write_kv_variant
from tokprobe.testing.crafted import KVChange

U32 = gguf.GGUFValueType.UINT32
STR = gguf.GGUFValueType.STRING
ARR = gguf.GGUFValueType.ARRAY

# name -> (changes, a word of the expected message). Each of these aborted llama.cpp (SIGABRT) before.
ABORTS = {
    "block_count_0": ({"llama.block_count": (0, U32)}, "block_count"),
    "block_count_513": ({"llama.block_count": (513, U32)}, "block_count"),
    "block_count_100000": ({"llama.block_count": (100000, U32)}, "block_count"),
    "nextn_layers": ({"llama.nextn_predict_layers": (5, U32)}, "nextn_predict_layers"),
    "experts_without_used": ({"llama.expert_count": (4, U32)}, "expert_used_count"),
    "used_without_experts": ({"llama.expert_used_count": (2, U32)}, "expert_used_count"),
    "too_many_experts": ({"llama.expert_count": (2000, U32), "llama.expert_used_count": (1, U32)}, "expert_count"),
    "expert_groups": ({"llama.expert_count": (8, U32), "llama.expert_used_count": (2, U32),
                       "llama.expert_group_count": (3, U32), "llama.expert_group_used_count": (1, U32)},
                      "expert_group"),
    "rope_scaling": ({"llama.rope.scaling.type": ("bogus", STR)}, "rope.scaling.type"),
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path) -> Path:
    d = tmp_path_factory.mktemp("hparams")
    return make_tiny_model(d / "small.gguf", n_embd=64, n_layer=2, tokenizer_from=tiny_model_path)


@pytest.fixture(scope="module")
def mutable(tmp_path_factory: pytest.TempPathFactory, small: Path) -> Path:
    """``small`` with the optional expert and next-token keys present (as 0), so they can be patched in place."""
    d = tmp_path_factory.mktemp("mutable")
    keys = ("expert_count", "expert_used_count", "expert_group_count", "expert_group_used_count",
            "nextn_predict_layers")
    return write_kv_variant(small, d / "base.gguf", {f"llama.{k}": (0, U32) for k in keys})


def _patched(base: Path, out: Path, changes: dict[str, tuple[int, gguf.GGUFValueType]]) -> Path:
    shutil.copyfile(base, out)
    for key, (value, _) in changes.items():
        patch_u32(out, key, value)
    return out


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory, small: Path, mutable: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("crafted")
    out: dict[str, Path] = {}
    for name, (changes, _) in ABORTS.items():
        if all(t == U32 for _, t in changes.values()):
            out[name] = _patched(mutable, d / f"{name}.gguf", changes)
        else:
            out[name] = write_kv_variant(small, d / f"{name}.gguf", changes)
    tokens = list(validate_gguf(small).kv["tokenizer.ggml.tokens"])
    tokens[500] = tokens[501]
    out["duplicate_token"] = write_kv_variant(small, d / "dup.gguf", {"tokenizer.ggml.tokens": (tokens, ARR)})
    out["bos_out_of_range"] = _patched(mutable, d / "bos.gguf", {"tokenizer.ggml.bos_token_id": (10**6, U32)})
    out["short_token_type"] = write_kv_variant(small, d / "tt.gguf", {"tokenizer.ggml.token_type": ([0] * 10, ARR)})
    out["add_bos_without_bos"] = write_kv_variant(small, d / "nobos.gguf", {
        "tokenizer.ggml.add_bos_token": (True, gguf.GGUFValueType.BOOL),
        "tokenizer.ggml.bos_token_id": (2**32 - 1, U32)})
    out["missing_layer"] = _patched(mutable, d / "bc3.gguf", {"llama.block_count": (3, U32)})
    out["unknown_arch"] = _unknown_arch(small, d / "arch.gguf")
    return out


def _unknown_arch(src: Path, out: Path) -> Path:
    h = validate_gguf(src)
    changes: dict[str, KVChange] = {}
    for k in h.kv:
        if k.startswith("llama."):
            changes[k] = None
            changes["nosuch." + k[len("llama."):]] = (h.kv[k], gguf.GGUFValueType(h.kv_types[k][0]))
    return write_kv_variant(src, out, changes, arch="nosuch")


@pytest.mark.parametrize("name", list(ABORTS))
def test_aborting_values_are_one_line_errors(crafted: dict[str, Path], name: str) -> None:
    with pytest.raises(FileFormatError) as ei:
        validate_gguf(crafted[name])
    msg = str(ei.value)
    assert "\n" not in msg and "invalid model hyperparameters" in msg
    assert ABORTS[name][1] in msg, msg


@pytest.mark.parametrize("name,word", [("duplicate_token", "more than once"),
                                       ("bos_out_of_range", "bos_token_id"),
                                       ("short_token_type", "token_type"),
                                       ("add_bos_without_bos", "add_bos_token")])
def test_vocabulary_arrays_and_ids_are_checked(crafted: dict[str, Path], name: str, word: str) -> None:
    with pytest.raises(FileFormatError, match="invalid vocabulary") as ei:
        validate_gguf(crafted[name])
    assert word in str(ei.value)


def test_real_vocabularies_pass(small: Path, tiny_model_path: Path) -> None:
    for p in (small, tiny_model_path):
        validate_gguf(p)


@pytest.mark.parametrize("name,words", [("missing_layer", ("blk.2", "not found")),
                                        ("unknown_arch", ("unknown model architecture", "nosuch"))])
def test_load_failure_names_the_cause(crafted: dict[str, Path], name: str, words: tuple[str, ...]) -> None:
    """llama.cpp logs the cause and then "failed to load model": the error keeps the cause."""
    with pytest.raises(FileFormatError) as ei:
        load(crafted[name], threads=1)
    msg = str(ei.value)
    assert all(w in msg for w in words), msg
    assert "failed to load model" not in msg


def _run(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", TOKPROBE_CACHE=str(cache))
    return subprocess.run([sys.executable, "-m", "tokprobe", *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.mark.parametrize("command", ["models info", "vocab", "coldstart"])
def test_cli_commands_refuse_crafted_models(crafted: dict[str, Path], command: str, tmp_path: Path) -> None:
    r = _run(*command.split(), str(crafted["block_count_0"]), cache=tmp_path / "cache")
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error: ") and "block_count" in lines[-1], r.stderr
    assert "Traceback" not in r.stderr and "GGML_ASSERT" not in r.stderr


def test_cli_compare_refuses_crafted_models(crafted: dict[str, Path], small: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.py").write_text("def f(x):\n    return x + 1\n" * 20)
    r = _run("compare", str(small), str(crafted["too_many_experts"]), "--corpus", str(corpus),
             "--run-dir", str(tmp_path / "run"), cache=tmp_path / "cache")
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "expert_count" in r.stderr and "Traceback" not in r.stderr


# -- property test: mutated u32 header values never kill the process -----------------------------------
_LOAD = """
import sys
from tokprobe.errors import Error
from tokprobe.models import load
try:
    with load(sys.argv[1], vocab_only=True, threads=1) as v:  # models info, vocab
        v.vocab.tokenize("def f(x): return x")
    with load(sys.argv[1], threads=1, n_ctx=32, n_batch=32) as m:  # coldstart, compare
        m.logits_after(m.tokenize("def f(x): return x"))
except Error as exc:
    print("error:", exc, file=sys.stderr)
    sys.exit(2)
"""

_INTERESTING = st.sampled_from([0, 1, 2, 3, 7, 8, 31, 32, 64, 255, 256, 511, 512, 513, 1024, 1025, 49151, 49152,
                                2**31 - 1, 2**31, 2**32 - 1])


@settings(max_examples=int(os.environ.get("TOKPROBE_FUZZ_EXAMPLES", "25")), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_header_values_never_abort(mutable: Path, tmp_path: Path, data: st.DataObject) -> None:
    keys = sorted(u32_keys(mutable))
    picks = data.draw(st.lists(st.tuples(st.sampled_from(keys), _INTERESTING | st.integers(0, 2**32 - 1)),
                               min_size=1, max_size=3))
    p = tmp_path / "m.gguf"
    shutil.copyfile(mutable, p)
    for key, value in picks:
        patch_u32(p, key, value)
    try:
        validate_gguf(p)
    except FileFormatError as exc:
        assert "\n" not in str(exc)
        return  # refused before llama.cpp: what we want for an aborting value
    r = subprocess.run([sys.executable, "-c", _LOAD, str(p)], capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 2), (picks, r.returncode, r.stderr[-1500:])
    assert r.returncode != -signal.SIGABRT
