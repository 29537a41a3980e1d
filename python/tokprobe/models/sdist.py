"""The pinned llama-cpp-python source distribution: llama.cpp's vendored tree, as shipped on the package registry.

Its ``vendor/llama.cpp/`` holds what the wheel does not: the vocab-only GGUF tokenizers
(``models/ggml-vocab-*.gguf``, used by ``tokprobe vocabs fetch``) and ``convert_hf_to_gguf.py``
(used by ``tokprobe.variants``). The pin matches the llama-cpp-python this package loads.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..cache import sdist_dir
from ..packages import pip_download_sdist

SDIST_PACKAGE = "llama-cpp-python"
SDIST_VERSION = "0.3.36"
SDIST_FILENAME = f"llama_cpp_python-{SDIST_VERSION}.tar.gz"


def find_sdist(cache_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """An already downloaded sdist: env ``TOKPROBE_SDIST`` (file or directory), then ``<cache>/sdist/``
    (next to ``cache_dir`` when given, e.g. ``<cache>/vocabs``, then the default cache)."""
    candidates: list[Path] = []
    env = os.environ.get("TOKPROBE_SDIST")
    if env:
        p = Path(env).expanduser()
        candidates.append(p / SDIST_FILENAME if p.is_dir() else p)
    if cache_dir is not None:
        candidates.append(Path(cache_dir).parent / "sdist" / SDIST_FILENAME)
    candidates.append(sdist_dir() / SDIST_FILENAME)
    for c in candidates:
        if c.is_file():
            return c
    return None


def download_sdist(dest_dir: str | os.PathLike[str], *, timeout: float = 1800) -> Path:
    """``pip download --no-deps --no-binary :all: llama-cpp-python==VERSION`` into ``dest_dir``."""
    return pip_download_sdist(f"{SDIST_PACKAGE}=={SDIST_VERSION}", Path(dest_dir), SDIST_FILENAME, timeout=timeout)
