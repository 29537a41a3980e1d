"""Quantization through llama.cpp's own quantizer (``llama_model_quantize``), and the default ladder.

Every type name llama.cpp knows is accepted: the table is derived from llama_cpp's
``LLAMA_FTYPE_MOSTLY_*`` constants (plus ``LLAMA_FTYPE_ALL_F32`` as ``F32``); a type the pinned
quantizer refuses (e.g. very-low-bit IQ types without an importance matrix) fails with llama.cpp's
reason in one line. Requantizing is allowed (``allow_requantize=True``): the shipped models are
already 4-bit, so the ladder's F16 is the reference of the ladder, not of the original weights.

Outputs are idempotent: next to ``out.gguf`` a sidecar ``out.gguf.json`` (written atomically, after
the GGUF itself was renamed into place) records the source sha256 and the type; a later request with
the same source and type reuses the file.
"""

from __future__ import annotations

import ctypes
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import io, provenance
from .._version import __version__
from ..cache import file_sha256, ladder_dir
from ..errors import InputError
from . import _llama
from .gguf_file import validate_gguf
from .registry import DEFAULT_MODEL, MODELS, canonical_name, resolve

DEFAULT_LADDER: list[str] = ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"]
SIDECAR_SUFFIX = ".json"
_TENSOR_LINE = re.compile(rb"^\[\s*(\d+)/\s*(\d+)\]")

_QUANT_TYPES: dict[str, int] | None = None


# Unquantized storage types: a rung of one of these is the ladder's reference.
REFERENCE_TYPES = ("F32", "BF16", "F16")


def is_reference_type(type_name: str) -> bool:
    """True for a ladder rung stored unquantized (F32, BF16, F16; case-insensitive)."""
    return str(type_name).upper() in REFERENCE_TYPES


def order_ladder(types: Iterable[str]) -> list[str]:
    """The ladder's type names with the reference rungs first, the order otherwise kept (a stable sort)."""
    return sorted(types, key=lambda t: 0 if is_reference_type(t) else 1)


def quant_types() -> dict[str, int]:
    """{type name: llama_ftype} from llama_cpp's LLAMA_FTYPE_* constants (imports llama_cpp)."""
    global _QUANT_TYPES
    if _QUANT_TYPES is None:
        lib = _llama.lib()
        table: dict[str, int] = {}
        for attr in dir(lib):
            if attr.startswith("LLAMA_FTYPE_MOSTLY_"):
                table[attr[len("LLAMA_FTYPE_MOSTLY_"):]] = int(getattr(lib, attr))
        if hasattr(lib, "LLAMA_FTYPE_ALL_F32"):
            table["F32"] = int(lib.LLAMA_FTYPE_ALL_F32)
        _QUANT_TYPES = dict(sorted(table.items(), key=lambda kv: kv[1]))
    return _QUANT_TYPES


def normalize_type(type_name: str) -> tuple[str, int]:
    """'q4_k_m' / 'Q4_K_M' / 'LLAMA_FTYPE_MOSTLY_Q4_K_M' -> ('Q4_K_M', 15); InputError if unknown."""
    t = str(type_name).strip().upper()
    for prefix in ("LLAMA_FTYPE_MOSTLY_", "LLAMA_FTYPE_ALL_", "MOSTLY_"):
        if t.startswith(prefix):
            t = t[len(prefix):]
    table = quant_types()
    if t not in table:
        raise InputError(f"unknown quantization type {type_name!r}; llama.cpp supports: {', '.join(table)}")
    return t, table[t]


def parse_types(spec: str | Iterable[str] | None) -> list[str]:
    """'F16,Q8_0 q4_0' -> ['F16', 'Q8_0', 'Q4_0'] (checked, duplicates dropped); None -> DEFAULT_LADDER."""
    if spec is None:
        return list(DEFAULT_LADDER)
    items = re.split(r"[,\s]+", spec) if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for it in items:
        if it and str(it).strip():
            name = normalize_type(it)[0]
            if name not in out:
                out.append(name)
    if not out:
        raise InputError("no quantization types given")
    return out


@dataclass
class QuantResult:
    type: str
    path: Path
    reused: bool
    seconds: float
    size: int
    source: str
    source_sha256: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def sidecar_path(out_path: Path) -> Path:
    return out_path.with_name(out_path.name + SIDECAR_SUFFIX)


def _reusable(out: Path, src_sha: str, type_name: str) -> bool:
    side = sidecar_path(out)
    if not (out.is_file() and side.is_file()):
        return False
    try:
        meta = io.read_json(side)
    except (OSError, ValueError):
        return False
    return (isinstance(meta, dict) and meta.get("source_sha256") == src_sha and meta.get("type") == type_name
            and meta.get("size") == out.stat().st_size)


def _base_name(src: Any, src_path: Path) -> str:
    if src is None:
        return DEFAULT_MODEL
    if isinstance(src, str) and canonical_name(src) in MODELS:
        return canonical_name(src)
    for spec in MODELS.values():
        if src_path.name == spec.filename:
            return spec.name
    return src_path.stem


def _quantize_one(src: Any, src_path: Path, src_sha: str, n_tensors: int, type_name: str, out: Path, *,
                  threads: int, force: bool, progress: Callable[[int, int], None] | None) -> QuantResult:
    tname, ftype = normalize_type(type_name)
    t0 = time.perf_counter()
    if out.exists() and out.is_dir():
        raise InputError(f"{out}: is a directory; give the output file path")
    if out.exists() and out.resolve() == src_path.resolve():
        raise InputError(f"{out}: output would overwrite the source")
    if not force and _reusable(out, src_sha, tname):
        if progress is not None:
            progress(n_tensors, n_tensors)
        return QuantResult(tname, out, True, 0.0, out.stat().st_size, str(src_path), src_sha)
    lib = _llama.lib()
    params = lib.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = threads

    def on_log(level: int, text: str) -> None:
        m = _TENSOR_LINE.match(text.encode("utf-8", "replace"))
        if m and progress is not None:
            progress(int(m.group(1)), int(m.group(2)))

    side = sidecar_path(out)
    if side.exists():
        side.unlink()  # a stale sidecar must never vouch for the new file
    _llama.clear_errors()
    with io.atomic_path(out) as tmp:
        with _llama.listen(on_log):
            rc = lib.llama_model_quantize(os.fsencode(str(src_path)), os.fsencode(str(tmp)), ctypes.byref(params))
        if rc != 0:
            reason = _llama.last_error("unknown error")
            reason = reason.split("failed to quantize: ", 1)[-1]
            raise InputError(f"quantizing {src_path.name} to {tname} failed: {reason}")
        validate_gguf(tmp)  # never publish a file we could not read back
    size = out.stat().st_size
    io.write_json(side, {
        "source": str(src_path),
        "source_name": src if isinstance(src, str) else None,
        "source_sha256": src_sha,
        "type": tname,
        "ftype": ftype,
        "size": size,
        "allow_requantize": True,
        "tokprobe": __version__,
        "llama_cpp_python": provenance.llama_cpp_version(),
        "seconds": round(time.perf_counter() - t0, 3),
    })
    if progress is not None:
        progress(n_tensors, n_tensors)
    return QuantResult(tname, out, False, time.perf_counter() - t0, size, str(src_path), src_sha)


def quantize(src: Any, type_name: str, out_path: str | os.PathLike[str], *, threads: int | None = None,
             force: bool = False, progress: Callable[[int, int], None] | None = None) -> Path:
    """Quantize ``src`` (name or path) to ``type_name`` at ``out_path`` (a directory: named
    ``<model>-<TYPE>.gguf`` inside it); reuses an earlier output of the same source and type."""
    return quantize_many(src, [type_name], out_path if Path(out_path).is_dir() else None,
                         out_file=None if Path(out_path).is_dir() else Path(out_path), threads=threads,
                         force=force, progress=progress)[0].path


def quantize_many(src: Any, types: str | Iterable[str] | None = None, out_dir: str | os.PathLike[str] | None = None, *,
                  out_file: Path | None = None, threads: int | None = None, force: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> list[QuantResult]:
    """Quantize ``src`` to each type into ``out_dir`` (default ``<cache>/ladder``) as ``<model>-<TYPE>.gguf``.
    ``progress(done, total)`` counts tensors over all types."""
    names = parse_types(types)
    if out_file is not None and len(names) != 1:
        raise InputError("out_file needs exactly one type")
    src_path = resolve(src)
    header = validate_gguf(src_path)
    if header.n_tensors == 0:
        raise InputError(f"{src_path}: has no tensors (a vocab-only file) and cannot be quantized")
    src_sha = file_sha256(src_path)
    base = _base_name(src, src_path)
    d = Path(out_dir).expanduser() if out_dir is not None else ladder_dir()
    threads = int(threads) if threads else provenance.available_cores()
    n = header.n_tensors
    total = n * len(names)
    results = []
    for i, t in enumerate(names):
        out = out_file if out_file is not None else d / f"{base}-{t}.gguf"

        def sub(done: int, _total: int, i: int = i) -> None:
            if progress is not None:
                progress(i * n + min(done, n), total)

        results.append(_quantize_one(src, src_path, src_sha, n, t, out, threads=threads, force=force, progress=sub))
    return results


def ladder(src: Any = None, types: Iterable[str] | None = None, out_dir: str | os.PathLike[str] | None = None,
           progress: Callable[[int, int], None] | None = None, *, threads: int | None = None,
           force: bool = False) -> dict[str, Path]:
    """The named quantization ladder of ``src`` (default: the default model): {type: path}, files
    ``<out_dir or <cache>/ladder>/<model>-<TYPE>.gguf`` so that ``resolve('gemma3-270m-Q4_0')`` works."""
    res = quantize_many(src, list(types) if types is not None else DEFAULT_LADDER, out_dir, threads=threads,
                        force=force, progress=progress)
    return {r.type: r.path for r in res}
