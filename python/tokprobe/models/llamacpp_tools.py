"""llama.cpp's own command-line tools (``llama-perplexity``, ``llama-quantize``), built from the pinned sdist.

The benchmark against llama.cpp and the reference-file round trip need the upstream tools of exactly the
llama.cpp this package loads. They come from the vendored tree of the pinned llama-cpp-python sdist
(:mod:`tokprobe.models.sdist`), configured with CMake (``-DGGML_NATIVE=ON``, only the requested targets)
into ``<cache>/llamacpp-tools/<sdist version>/``; a later call finds the binaries and builds nothing.
Building takes a few minutes on two cores and needs ``cmake`` and a C++ compiler.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path

from ..cache import cache_root
from ..errors import InputError
from .sdist import SDIST_VERSION, find_sdist

TOOLS = ("llama-perplexity", "llama-quantize")
_VENDOR = "vendor/llama.cpp/"
_CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=ON",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
)


def tools_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """``<cache>/llamacpp-tools/<sdist version>`` (``root`` replaces the cache root)."""
    return (Path(root) if root is not None else cache_root()) / "llamacpp-tools" / SDIST_VERSION


def find_tool(name: str, root: str | os.PathLike[str] | None = None) -> Path | None:
    """The already built binary ``name`` (e.g. ``llama-perplexity``), or None."""
    p = tools_dir(root) / "build" / "bin" / name
    return p if p.is_file() and os.access(p, os.X_OK) else None


def _extract_vendor(sdist: Path, dest: Path) -> Path:
    """Extract the sdist's ``vendor/llama.cpp`` into ``dest/src`` (atomically: a temp dir, then rename)."""
    src = dest / "src"
    if (src / "CMakeLists.txt").is_file():
        return src
    tmp = dest / "src.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(sdist, mode="r|gz") as tar:
            for member in tar:
                _, _, rel = member.name.partition("/")
                if not rel.startswith(_VENDOR) or not (member.isfile() or member.isdir()):
                    continue
                member.name = rel[len(_VENDOR):]
                if member.name:
                    tar.extract(member, tmp, filter="data")
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"{sdist}: cannot extract vendor/llama.cpp ({exc})") from None
    if not (tmp / "CMakeLists.txt").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"{sdist}: no vendor/llama.cpp/CMakeLists.txt inside")
    tmp.rename(src)
    return src


def _run(cmd: Sequence[str], log: Path) -> None:
    with log.open("ab") as fh:
        fh.write(("$ " + " ".join(cmd) + "\n").encode())
        fh.flush()
        done = subprocess.run(list(cmd), stdout=fh, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise InputError(f"building llama.cpp tools failed ({cmd[0]} exited {done.returncode}); see {log}")


def build_tools(
    names: Sequence[str] = TOOLS,
    *,
    root: str | os.PathLike[str] | None = None,
    sdist: str | os.PathLike[str] | None = None,
    jobs: int = 2,
) -> dict[str, Path]:
    """{name: binary} for ``names``, building the missing ones from the pinned sdist's vendored llama.cpp.

    The build log is ``<tools_dir>/build.log``. Raises InputError when the sdist, cmake or the build fails.
    """
    found = {n: find_tool(n, root) for n in names}
    missing = [n for n, p in found.items() if p is None]
    if missing:
        if shutil.which("cmake") is None:
            raise InputError("building llama.cpp's tools needs cmake on PATH")
        archive = Path(sdist) if sdist is not None else find_sdist()
        if archive is None or not archive.is_file():
            raise InputError("llama-cpp-python sdist not found (run `tokprobe vocabs fetch` or set TOKPROBE_SDIST)")
        dest = tools_dir(root)
        dest.mkdir(parents=True, exist_ok=True)
        src = _extract_vendor(archive, dest)
        build, log = dest / "build", dest / "build.log"
        _run(["cmake", "-S", str(src), "-B", str(build), *_CMAKE_FLAGS], log)
        _run(["cmake", "--build", str(build), "--config", "Release", "-j", str(jobs), "--target", *missing], log)
        found = {n: find_tool(n, root) for n in names}
    out: dict[str, Path] = {}
    for n, p in found.items():
        if p is None:
            raise InputError(f"building llama.cpp tools did not produce {n}; see {tools_dir(root) / 'build.log'}")
        out[n] = p
    return out
