"""Crafted GGUF models for robustness tests: a valid model with some header values replaced.

:func:`write_kv_variant` rewrites a model with keys set, retyped or dropped (the tensors are copied
as they are); :func:`patch_u32` overwrites one u32 value in place, which keeps the layout and is
fast enough for a property test that mutates many copies.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import gguf

from .. import io
from ..errors import InputError
from ..models.gguf_file import T_UINT32, read_header
from .tiny_models import to_writer_value, value_types

# What write_kv_variant takes per key: (value, gguf value type) to set, or None to drop the key.
KVChange = tuple[Any, gguf.GGUFValueType] | None


def write_kv_variant(model: str | os.PathLike[str], out: str | os.PathLike[str],
                     changes: dict[str, KVChange], *, arch: str | None = None) -> Path:
    """A copy of ``model`` at ``out`` with ``changes`` applied to its header (an array keeps the element
    type of the key it replaces) and ``general.architecture`` set to ``arch`` when given; the tensors are
    unchanged."""
    src = Path(model)
    header = read_header(src, require_tokenizer=False)
    types = value_types()
    reader = gguf.GGUFReader(str(src))
    target = Path(out)
    with io.atomic_path(target) as tmp:
        w = gguf.GGUFWriter(str(tmp), arch=arch or str(header.arch or "llama"))
        for key, val in header.kv.items():
            if key == "general.architecture" or key in changes:
                continue
            vtype, sub = header.kv_types[key]
            w.add_key_value(key, to_writer_value(val, vtype, sub), types[vtype],
                            types[sub] if sub is not None else None)
        for key, change in changes.items():
            if change is not None:
                value, vtype = change
                w.add_key_value(key, value, vtype, _element_type(header.kv_types, key, value, vtype))
        for t in reader.tensors:
            w.add_tensor(t.name, t.data, raw_shape=[int(d) for d in reversed(t.shape)], raw_dtype=t.tensor_type)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    return target


def _element_type(kv_types: dict[str, tuple[int, int | None]], key: str, value: Any,
                  vtype: gguf.GGUFValueType) -> gguf.GGUFValueType | None:
    if vtype != gguf.GGUFValueType.ARRAY:
        return None
    old = kv_types.get(key, (0, None))[1]
    if old is not None:
        return gguf.GGUFValueType(old)
    return gguf.GGUFValueType.STRING if value and isinstance(value[0], (str, bytes)) else gguf.GGUFValueType.INT32


def u32_keys(model: str | os.PathLike[str]) -> list[str]:
    """The keys of ``model`` whose value is a scalar u32 (what :func:`patch_u32` can change)."""
    h = read_header(model, require_tokenizer=False)
    return [k for k, (vtype, _) in h.kv_types.items() if vtype == T_UINT32]


def patch_u32(path: str | os.PathLike[str], key: str, value: int) -> None:
    """Overwrite the u32 value of ``key`` in the file at ``path`` in place."""
    p = Path(path)
    raw = key.encode()
    needle = struct.pack("<Q", len(raw)) + raw + struct.pack("<I", T_UINT32)
    with open(p, "r+b") as fh:
        head = fh.read(min(p.stat().st_size, 64 << 20))
        i = head.find(needle)
        if i < 0:
            raise InputError(f"{p}: no u32 key {key!r} in the header")
        fh.seek(i + len(needle))
        fh.write(struct.pack("<I", value & 0xFFFFFFFF))
