"""The vocab-only GGUF tokenizers shipped in the llama-cpp-python sdist, cached by short name.

``tokprobe vocabs fetch`` gets ``llama_cpp_python-<version>.tar.gz`` (from ``--sdist``, the cache,
or ``pip download --no-deps --no-binary :all:`` in a subprocess), extracts every
``vendor/llama.cpp/models/ggml-vocab-*.gguf`` into ``<cache>/vocabs/`` and writes a manifest
(sha256 of the sdist and of every file).  Afterwards a tokenizer is addressable by its short name:
``ggml-vocab-qwen2.gguf`` is ``'qwen2'``, ``ggml-vocab-llama-bpe.gguf`` is ``'llama-bpe'``.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import io
from ..cache import cache_root, hash_file
from ..errors import FileFormatError, InputError
from ..models.sdist import SDIST_FILENAME, SDIST_PACKAGE, SDIST_VERSION, download_sdist, find_sdist

_MEMBER_RE = re.compile(r"(?:^|/)vendor/llama\.cpp/models/ggml-vocab-([A-Za-z0-9._-]+)\.gguf$")
PREFIX = "ggml-vocab-"
MANIFEST = "MANIFEST.json"

# What each short name is (for listings); names not here are still fetched and usable.
DESCRIPTIONS = {
    "aquila": "Aquila (BPE)",
    "baichuan": "Baichuan (SPM)",
    "bert-bge": "BERT BGE (WordPiece)",
    "command-r": "Cohere Command-R (BPE)",
    "deepseek-coder": "DeepSeek-Coder (BPE)",
    "deepseek-llm": "DeepSeek LLM (BPE)",
    "falcon": "Falcon (BPE)",
    "gemma-4": "Gemma 4 (SPM-style BPE)",
    "gpt-2": "GPT-2 (byte-level BPE)",
    "gpt-neox": "GPT-NeoX / Pythia (BPE)",
    "llama-bpe": "Llama 3 (tiktoken-style BPE)",
    "llama-spm": "Llama 2 (SentencePiece)",
    "mpt": "MPT (BPE)",
    "nomic-bert-moe": "Nomic BERT MoE (UGM)",
    "phi-3": "Phi-3 (SentencePiece)",
    "qwen2": "Qwen2 / Qwen2.5 (BPE)",
    "qwen35": "Qwen3.5 (BPE)",
    "refact": "Refact (BPE)",
    "starcoder": "StarCoder (BPE)",
}


def vocab_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<cache>/vocabs`` (or ``cache_dir`` itself when given)."""
    return Path(cache_dir) if cache_dir is not None else cache_root() / "vocabs"


def short_name(path: str | os.PathLike[str]) -> str:
    """'ggml-vocab-qwen2.gguf' -> 'qwen2'."""
    name = Path(path).name
    if name.endswith(".gguf"):
        name = name[: -len(".gguf")]
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def vocab_path(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """Path of the cached vocab GGUF called ``name`` ('qwen2', 'ggml-vocab-qwen2', ...), or None."""
    if not name or "/" in name or os.sep in name:
        return None
    n = short_name(name)
    p = vocab_dir(cache_dir) / f"{PREFIX}{n}.gguf"
    return p if p.is_file() else None


def list_vocabs(cache_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Cached vocab files: name, path, size, description, sha256 (from the manifest)."""
    d = vocab_dir(cache_dir)
    manifest = {}
    if (d / MANIFEST).is_file():
        try:
            manifest = io.read_json(d / MANIFEST).get("files", {})
        except (ValueError, OSError, AttributeError):
            manifest = {}
    rows = []
    for p in sorted(d.glob(f"{PREFIX}*.gguf")) if d.is_dir() else []:
        n = short_name(p)
        rows.append(
            {
                "name": n,
                "description": DESCRIPTIONS.get(n, ""),
                "size": p.stat().st_size,
                "sha256": manifest.get(p.name, {}).get("sha256", ""),
                "path": str(p),
            }
        )
    return rows


def extract_vocabs(
    sdist: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Path]:
    """Extract every ``ggml-vocab-*.gguf`` of the sdist into ``dest_dir`` (atomically, one by one).

    Returns {short name: path}. Writes ``MANIFEST.json`` with sha256 of the sdist and of every file.
    """
    sdist = Path(sdist)
    dest = Path(dest_dir)
    if not sdist.is_file():
        raise FileFormatError(f"sdist not found: {sdist}")
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    files: dict[str, dict[str, Any]] = {}
    try:
        with tarfile.open(sdist, mode="r|gz") as tar:  # streaming: one pass over the 77 MB archive
            for member in tar:
                m = _MEMBER_RE.search(member.name)
                if not m or not member.isfile():
                    continue
                name = m.group(1)
                target = dest / f"{PREFIX}{name}.gguf"
                f = tar.extractfile(member)
                if f is None:
                    continue
                if force or not target.is_file() or target.stat().st_size != member.size:
                    with io.atomic_path(target) as tmp, open(tmp, "wb") as w:
                        shutil.copyfileobj(f, w, 1 << 20)
                out[name] = target
                files[target.name] = {"sha256": hash_file(target), "size": target.stat().st_size, "member": member.name}
                if progress is not None:
                    progress(len(out), 0)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FileFormatError(f"{sdist}: not a readable .tar.gz sdist ({exc})") from None
    if not out:
        raise FileFormatError(f"{sdist}: no vendor/llama.cpp/models/ggml-vocab-*.gguf inside")
    io.write_json(
        dest / MANIFEST,
        {
            "source": f"{SDIST_PACKAGE} {SDIST_VERSION} sdist (vendor/llama.cpp/models/)",
            "sdist": sdist.name,
            "sdist_sha256": hash_file(sdist),
            "license": "llama.cpp test vocabularies (MIT, llama.cpp); each vocabulary belongs to its model's authors",
            "files": files,
        },
    )
    if progress is not None:
        progress(len(out), len(out))
    return dict(sorted(out.items()))


def fetch_vocabs(
    *,
    sdist: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Path]:
    """Put the sdist's vocab-only GGUF files into ``<cache>/vocabs`` (or ``cache_dir``); {name: path}.

    ``sdist``: a local ``.tar.gz`` (skips the download). Otherwise an earlier download is reused
    (env ``TOKPROBE_SDIST``, ``<cache>/sdist/``) or, when ``download``, pip downloads it there.
    """
    dest = vocab_dir(cache_dir)
    if sdist is not None:
        src = Path(sdist).expanduser()
        if src.is_dir():
            src = src / SDIST_FILENAME
        if not src.is_file():
            raise InputError(f"--sdist {sdist}: no such file")
    else:
        found = find_sdist(cache_dir)
        if found is None:
            if not download:
                raise FileFormatError(f"no {SDIST_FILENAME} found and downloading is off; pass --sdist FILE")
            root = Path(cache_dir).parent if cache_dir is not None else cache_root()
            found = download_sdist(root / "sdist")
        src = found
    return extract_vocabs(src, dest, force=force, progress=progress)
