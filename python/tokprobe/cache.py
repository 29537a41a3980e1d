"""tokprobe's cache: where it lives, its layout, and file hashes remembered across runs.

The root is ``$TOKPROBE_CACHE`` if set, else ``~/.cache/tokprobe``. Layout under it:

- ``models/``     assembled named models (e.g. the default gemma3-270m)
- ``ladder/``     quantization ladders, ``<model>-<TYPE>.gguf``
- ``vocabs/``     vocab-only GGUFs from the llama-cpp-python sdist
- ``sdist/``      source distributions downloaded from the package registry
- ``corpora/``    named corpora built on first use
- ``compare/``    comparison run directories; ``reference/`` reference caches
- ``sha256-cache.json``  file hashes keyed by (path, size, mtime)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import io

SHA_CACHE_FILE = "sha256-cache.json"
_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def cache_root() -> Path:
    """``$TOKPROBE_CACHE`` if set, else ``~/.cache/tokprobe``."""
    env = os.environ.get("TOKPROBE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tokprobe"


def models_dir() -> Path:
    return cache_root() / "models"


def ladder_dir() -> Path:
    return cache_root() / "ladder"


def vocabs_dir() -> Path:
    return cache_root() / "vocabs"


def sdist_dir() -> Path:
    return cache_root() / "sdist"


def corpora_dir() -> Path:
    return cache_root() / "corpora"


def compare_dir() -> Path:
    return cache_root() / "compare"


def reference_dir() -> Path:
    return cache_root() / "reference"


# -- file hashes -------------------------------------------------------------------------------------
def _sha_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def hash_file(path: Path, progress: Callable[[int, int], None] | None = None) -> str:
    """sha256 of a file, read now (no cache)."""
    h = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
            done += len(block)
            if progress is not None:
                progress(done, total)
    return h.hexdigest()


def _read_sha_cache() -> dict[str, Any]:
    return io.read_json_object(cache_root() / SHA_CACHE_FILE)


def _remember_sha(key: tuple[str, int, int], digest: str) -> None:
    _SHA_MEMO[key] = digest
    try:
        data = _read_sha_cache()
        data[key[0]] = {"size": key[1], "mtime_ns": key[2], "sha256": digest}
        # Drop entries for files that are gone or changed, so the cache stays small.
        for k in list(data):
            v = data[k]
            try:
                st = os.stat(k)
                if not isinstance(v, dict) or st.st_size != v.get("size") or st.st_mtime_ns != v.get("mtime_ns"):
                    del data[k]
            except OSError:
                del data[k]
        io.write_text(cache_root() / SHA_CACHE_FILE, json.dumps(data, indent=1, sort_keys=True) + "\n")
    except OSError:  # a read-only cache only costs a recomputation next time
        pass


def remember_file_sha256(path: Path, digest: str) -> None:
    """Record a digest computed elsewhere (e.g. while copying the file) for :func:`file_sha256`."""
    _remember_sha(_sha_key(path), digest)


def forget_hashes() -> None:
    """Forget the in-memory hashes (the file in the cache stays): the next lookup reads it again."""
    _SHA_MEMO.clear()


def file_sha256(path: str | os.PathLike[str], progress: Callable[[int, int], None] | None = None) -> str:
    """sha256 of a file, cached by (resolved path, size, mtime) in memory and in the cache dir."""
    p = Path(path)
    key = _sha_key(p)
    if key in _SHA_MEMO:
        return _SHA_MEMO[key]
    entry = _read_sha_cache().get(key[0])
    if isinstance(entry, dict) and entry.get("size") == key[1] and entry.get("mtime_ns") == key[2]:
        digest = str(entry.get("sha256"))
        if re.fullmatch(r"[0-9a-f]{64}", digest):
            _SHA_MEMO[key] = digest
            return digest
    digest = hash_file(p, progress)
    _remember_sha(key, digest)
    return digest
