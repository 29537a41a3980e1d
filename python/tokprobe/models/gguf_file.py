"""A small, strict, pure-Python GGUF header reader.

Every file goes through :func:`validate_gguf` before llama.cpp sees it, so a bad file becomes one
:class:`~tokprobe.errors.FileFormatError` with a one-line message instead of a crash inside C++.
Checked: the magic, the version (2 or 3, little-endian), counts that fit in the file, every key/value
record and every tensor-info record parses inside the file, no duplicate keys or tensor names,
known tensor types whose first dimension is a multiple of the block size, the alignment, tensor data
offsets that are aligned, contiguous (as llama.cpp's own loader requires) and end inside the file,
and a tokenizer (``tokenizer.ggml.model`` and a non-empty ``tokenizer.ggml.tokens``). The
hyperparameters llama.cpp asserts on (block and expert counts, ...) are checked by :mod:`.hparams`.

The reader touches only the header (the tensor data is never read); numeric arrays come back as
numpy arrays, strings as ``str``.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from .hparams import check_hparams

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4
MAX_TENSOR_NAME = 64  # GGML_MAX_NAME, terminator included in llama.cpp

# GGUF value types -> (name, struct code, size); STRING = 8, ARRAY = 9.
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL = range(8)
T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = 8, 9, 10, 11, 12
_SCALAR = {
    T_UINT8: ("<B", 1, np.uint8),
    T_INT8: ("<b", 1, np.int8),
    T_UINT16: ("<H", 2, np.uint16),
    T_INT16: ("<h", 2, np.int16),
    T_UINT32: ("<I", 4, np.uint32),
    T_INT32: ("<i", 4, np.int32),
    T_FLOAT32: ("<f", 4, np.float32),
    T_BOOL: ("<?", 1, np.bool_),
    T_UINT64: ("<Q", 8, np.uint64),
    T_INT64: ("<q", 8, np.int64),
    T_FLOAT64: ("<d", 8, np.float64),
}
VALUE_TYPE_NAMES = {
    T_UINT8: "u8", T_INT8: "i8", T_UINT16: "u16", T_INT16: "i16", T_UINT32: "u32", T_INT32: "i32",
    T_FLOAT32: "f32", T_BOOL: "bool", T_STRING: "str", T_ARRAY: "array", T_UINT64: "u64",
    T_INT64: "i64", T_FLOAT64: "f64",
}

# ggml tensor types: id -> (name, block size in elements, bytes per block). From ggml.h / ggml-common.h
# of the pinned llama.cpp (ids 4, 5 and 31-33, 36-38 were removed upstream and are rejected).
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18), 42: ("Q2_0", 64, 18),
}

# llama_ftype id -> name (general.file_type). Names match tokprobe.models.QUANT_TYPES.
FILE_TYPE_NAMES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M",
    18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S",
    25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M",
    32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0", 41: "Q2_0",
}

_U32 = struct.Struct("<I").unpack_from
_U64 = struct.Struct("<Q").unpack_from

# Smallest possible records, used to bound counts by the file size before looping over them.
_MIN_KV_RECORD = 8 + 1 + 4 + 1  # key length, 1-byte key, type, 1-byte value
_MIN_TENSOR_RECORD = 8 + 1 + 4 + 8 + 4 + 8  # name length, 1-byte name, n_dims, one dim, type, offset


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # ggml order: shape[0] is the row length
    type_id: int
    offset: int  # relative to the data section
    n_elements: int
    n_bytes: int

    @property
    def type_name(self) -> str:
        return GGML_TYPES[self.type_id][0]


@dataclass
class GGUFHeader:
    """What the header of a GGUF file says. ``kv`` maps keys to values (numeric arrays as numpy)."""

    path: Path
    file_size: int
    version: int
    alignment: int
    data_offset: int
    kv: dict[str, Any]
    kv_types: dict[str, tuple[int, int | None]]  # key -> (value type, array element type or None)
    tensors: list[TensorInfo] = field(default_factory=list)

    # -- derived ----------------------------------------------------------------------------------
    @property
    def n_tensors(self) -> int:
        return len(self.tensors)

    @property
    def arch(self) -> str | None:
        v = self.kv.get("general.architecture")
        return v if isinstance(v, str) else None

    def arch_value(self, suffix: str, default: Any = None) -> Any:
        """``{arch}.{suffix}``, e.g. ``arch_value('block_count')``."""
        return self.kv.get(f"{self.arch}.{suffix}", default)

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def tensor_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    @property
    def bits_per_weight(self) -> float | None:
        n = self.n_params
        return 8.0 * self.tensor_bytes / n if n else None

    @property
    def file_type_id(self) -> int | None:
        v = self.kv.get("general.file_type")
        return int(v) if v is not None and not isinstance(v, (str, np.ndarray, list)) else None

    @property
    def file_type(self) -> str | None:
        """Name of ``general.file_type`` ('Q4_K_M', 'F16', ...), or the dominant tensor type when absent."""
        fid = self.file_type_id
        if fid is not None:
            return FILE_TYPE_NAMES.get(fid, f"ftype_{fid}")
        return self.dominant_tensor_type

    @property
    def dominant_tensor_type(self) -> str | None:
        by_type: dict[str, int] = {}
        for t in self.tensors:
            if len(t.shape) >= 2:
                by_type[t.type_name] = by_type.get(t.type_name, 0) + t.n_elements
        return max(by_type, key=by_type.__getitem__) if by_type else None

    def tensor_type_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tensors:
            out[t.type_name] = out.get(t.type_name, 0) + 1
        return dict(sorted(out.items()))

    @property
    def n_vocab(self) -> int:
        toks = self.kv.get("tokenizer.ggml.tokens")
        return len(toks) if toks is not None else 0

    @property
    def has_tokenizer(self) -> bool:
        model = self.kv.get("tokenizer.ggml.model")
        return isinstance(model, str) and model != "none" and self.n_vocab > 0

    @property
    def has_chat_template(self) -> bool:
        return isinstance(self.kv.get("tokenizer.chat_template"), str)

    def summary(self) -> dict[str, Any]:
        return {
            "gguf_version": self.version,
            "arch": self.arch,
            "general_name": self.kv.get("general.name"),
            "n_tensors": self.n_tensors,
            "n_kv": len(self.kv),
            "n_params": self.n_params,
            "file_type": self.file_type,
            "bits_per_weight": self.bits_per_weight,
            "file_size": self.file_size,
            "tensor_types": self.tensor_type_counts(),
        }


class _Reader:
    """Bounds-checked little-endian cursor over a buffer; every overrun is a FileFormatError."""

    __slots__ = ("buf", "pos", "end", "where")

    def __init__(self, buf: mmap.mmap, where: str) -> None:
        self.buf = buf
        self.pos = 0
        self.end = len(buf)
        self.where = where

    def fail(self, what: str) -> FileFormatError:
        return FileFormatError(f"{self.where}: not a valid GGUF file: {what}")

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.end:
            raise self.fail(f"truncated while reading {what} (needs {n} bytes at offset {self.pos}, "
                            f"file has {self.end})")

    def u32(self, what: str) -> int:
        self.need(4, what)
        v: int = _U32(self.buf, self.pos)[0]
        self.pos += 4
        return v

    def u64(self, what: str) -> int:
        self.need(8, what)
        v: int = _U64(self.buf, self.pos)[0]
        self.pos += 8
        return v

    def string(self, what: str) -> str:
        n = self.u64(f"length of {what}")
        self.need(n, what)
        raw = self.buf[self.pos:self.pos + n]
        self.pos += n
        # Token texts may hold invalid UTF-8 in some vocabularies: keep them losslessly.
        return raw.decode("utf-8", "surrogateescape")

    def scalar(self, vtype: int, what: str) -> Any:
        code, size, _ = _SCALAR[vtype]
        self.need(size, what)
        v = struct.unpack_from(code, self.buf, self.pos)[0]
        self.pos += size
        return v

    def string_array(self, count: int, what: str) -> list[str]:
        # A string needs at least 8 bytes: bound the count first, then a tight loop.
        if count * 8 > self.end - self.pos:
            raise self.fail(f"{what}: array of {count} strings cannot fit in the file")
        buf, pos, end = self.buf, self.pos, self.end
        out: list[str] = [""] * count
        u64 = _U64
        for i in range(count):
            if pos + 8 > end:
                self.pos = pos
                self.need(8, f"{what}[{i}]")
            n = u64(buf, pos)[0]
            pos += 8
            if n > end - pos:
                self.pos = pos
                self.need(n, f"{what}[{i}]")
            out[i] = buf[pos:pos + n].decode("utf-8", "surrogateescape")
            pos += n
        self.pos = pos
        return out

    def numeric_array(self, etype: int, count: int, what: str) -> np.ndarray:
        _, size, dtype = _SCALAR[etype]
        if count > (self.end - self.pos) // size:
            raise self.fail(f"{what}: array of {count} x {size} bytes cannot fit in the file")
        n = count * size
        arr = np.frombuffer(self.buf, dtype=np.dtype(dtype).newbyteorder("<"), count=count,
                            offset=self.pos).copy()
        self.pos += n
        return arr


def _open_checked(path: str | os.PathLike[str]) -> tuple[Path, int]:
    p = Path(path).expanduser()
    if not p.exists():
        raise FileFormatError(f"{p}: no such file")
    if p.is_dir():
        raise FileFormatError(f"{p}: is a directory, not a GGUF file")
    if not p.is_file():
        raise FileFormatError(f"{p}: not a regular file")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise FileFormatError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if size == 0:
        raise FileFormatError(f"{p}: empty file, not a GGUF model")
    return p, size


def read_header(path: str | os.PathLike[str], *, require_tokenizer: bool = True) -> GGUFHeader:
    """Parse and check the header of a GGUF file (see the module docstring for what is checked)."""
    p, size = _open_checked(path)
    try:
        with open(p, "rb") as fh:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"{p}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        header = _parse(mm, p, size)
    finally:
        mm.close()
    check_hparams(header)  # values llama.cpp aborts the process on (hparams.py)
    if require_tokenizer and not header.has_tokenizer:
        raise FileFormatError(
            f"{p}: GGUF file has no tokenizer (tokenizer.ggml.model / tokenizer.ggml.tokens missing or empty); "
            "tokprobe needs a model or vocab file with its vocabulary")
    return header


def _parse(buf: mmap.mmap, p: Path, size: int) -> GGUFHeader:
    r = _Reader(buf, str(p))
    version, n_tensors, n_kv = _parse_preamble(r, buf, p, size)
    kv, kv_types = _parse_kv(r, n_kv)
    alignment = DEFAULT_ALIGNMENT
    if "general.alignment" in kv:
        a = kv["general.alignment"]
        if kv_types["general.alignment"][0] != T_UINT32 or a <= 0 or (a & (a - 1)):
            raise r.fail(f"general.alignment must be a power-of-two u32, got {a!r}")
        alignment = int(a)
    tensors: list[TensorInfo] = []
    names: set[str] = set()
    for i in range(n_tensors):
        tensors.append(_parse_tensor(r, i, names))
    data_offset = -(-r.pos // alignment) * alignment
    _check_layout(r, tensors, alignment, data_offset, size)
    return GGUFHeader(path=p, file_size=size, version=version, alignment=alignment, data_offset=data_offset,
                      kv=kv, kv_types=kv_types, tensors=tensors)


def _parse_preamble(r: _Reader, buf: mmap.mmap, p: Path, size: int) -> tuple[int, int, int]:
    """Magic, version and the two counts: (version, tensor count, key/value count)."""
    if size < 4 or buf[:4] != GGUF_MAGIC:
        head = buf[:4]
        if GGUF_MAGIC.startswith(head):
            raise r.fail(f"truncated after {size} bytes")
        raise FileFormatError(f"{p}: not a GGUF file (magic {head!r}, expected b'GGUF')")
    r.pos = 4
    version = r.u32("version")
    if version not in SUPPORTED_VERSIONS:
        if version & 0xFFFF == 0 and (version >> 24) in SUPPORTED_VERSIONS:
            raise FileFormatError(f"{p}: big-endian GGUF files are not supported")
        if version == 1:
            raise FileFormatError(f"{p}: GGUF version 1 is obsolete and not supported (need 2 or 3)")
        raise FileFormatError(f"{p}: unsupported GGUF version {version} (need 2 or 3)")
    n_tensors = r.u64("tensor count")
    n_kv = r.u64("key/value count")
    room = size - r.pos
    if n_kv * _MIN_KV_RECORD > room:
        raise r.fail(f"implausible key/value count {n_kv} for a {size}-byte file")
    if n_tensors * _MIN_TENSOR_RECORD > room:
        raise r.fail(f"implausible tensor count {n_tensors} for a {size}-byte file")
    return version, n_tensors, n_kv


def _parse_kv(r: _Reader, n_kv: int) -> tuple[dict[str, Any], dict[str, tuple[int, int | None]]]:
    """The key/value records: (values, {key: (type, array element type or None)})."""
    kv: dict[str, Any] = {}
    kv_types: dict[str, tuple[int, int | None]] = {}
    for i in range(n_kv):
        key = r.string(f"key {i}")
        if not key:
            raise r.fail(f"key {i} is empty")
        if key in kv:
            raise r.fail(f"duplicate key {key!r}")
        vtype = r.u32(f"type of {key}")
        sub: int | None = None
        if vtype == T_STRING:
            val: Any = r.string(key)
        elif vtype == T_ARRAY:
            sub = r.u32(f"element type of {key}")
            val = _parse_array(r, key, sub)
        elif vtype in _SCALAR:
            val = r.scalar(vtype, key)
        else:
            raise r.fail(f"{key}: unknown value type {vtype}")
        kv[key] = val
        kv_types[key] = (vtype, sub)
    return kv, kv_types


def _parse_array(r: _Reader, key: str, sub: int) -> Any:
    count = r.u64(f"length of {key}")
    if sub == T_STRING:
        return r.string_array(count, key)
    if sub in _SCALAR:
        return r.numeric_array(sub, count, key)
    if sub == T_ARRAY:
        raise r.fail(f"{key}: nested arrays are not supported")
    raise r.fail(f"{key}: unknown array element type {sub}")


def _parse_tensor(r: _Reader, i: int, names: set[str]) -> TensorInfo:
    """Tensor record ``i`` (its name is added to ``names``, which must not hold it yet)."""
    name = r.string(f"name of tensor {i}")
    if len(name.encode("utf-8", "surrogateescape")) >= MAX_TENSOR_NAME:
        raise r.fail(f"tensor {i} name is longer than {MAX_TENSOR_NAME - 1} bytes")
    if name in names:
        raise r.fail(f"duplicate tensor name {name!r}")
    names.add(name)
    n_dims = r.u32(f"dimension count of {name}")
    if not 1 <= n_dims <= MAX_DIMS:
        raise r.fail(f"tensor {name!r} has {n_dims} dimensions (1 to {MAX_DIMS} allowed)")
    shape = tuple(r.u64(f"shape of {name}") for _ in range(n_dims))
    n_el = 1
    for d in shape:
        n_el *= d
    if n_el >= 2**63:
        raise r.fail(f"tensor {name!r} shape {shape} overflows")
    type_id = r.u32(f"type of {name}")
    if type_id not in GGML_TYPES:
        raise r.fail(f"tensor {name!r} has unknown or removed ggml type {type_id}")
    tname, blck, tsize = GGML_TYPES[type_id]
    if shape[0] % blck:
        raise r.fail(f"tensor {name!r} row length {shape[0]} is not a multiple of the {tname} block size {blck}")
    offset = r.u64(f"data offset of {name}")
    n_bytes = n_el // blck * tsize
    return TensorInfo(name, shape, type_id, offset, n_el, n_bytes)


def _check_layout(r: _Reader, tensors: list[TensorInfo], alignment: int, data_offset: int, size: int) -> None:
    """Tensor data aligned, contiguous in order, and inside the file."""
    expected = 0
    for t in tensors:
        if t.offset % alignment:
            raise r.fail(f"tensor {t.name!r} data offset {t.offset} is not aligned to {alignment}")
        if t.offset != expected:
            raise r.fail(f"tensor {t.name!r} data offset {t.offset} is not where the previous tensor ends "
                         f"({expected})")
        end = data_offset + t.offset + t.n_bytes
        if end > size:
            raise r.fail(f"truncated: tensor {t.name!r} data ends at byte {end} but the file has {size} bytes")
        expected += -(-t.n_bytes // alignment) * alignment
    if tensors and data_offset > size:
        raise r.fail(f"truncated: tensor data would start at byte {data_offset} of a {size}-byte file")


def validate_gguf(path: str | os.PathLike[str], *, require_tokenizer: bool = True) -> GGUFHeader:
    """Check a GGUF file in pure Python before llama.cpp sees it; raise FileFormatError (one line) if bad."""
    return read_header(path, require_tokenizer=require_tokenizer)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """All key/value pairs of a GGUF header (numeric arrays as numpy arrays). Validates the file."""
    return dict(read_header(path, require_tokenizer=False).kv)
