"""Tiny random llama-architecture GGUF models with a real tokenizer, and broken files for error paths.

``make_tiny_model`` writes, in a second or two, a GGUF that llama.cpp loads and runs like any
model: llama architecture, random F16 weights (F32 norms), and every ``tokenizer.*`` key copied
from a real GGUF (by default ``smollm2-135m``'s 49,152-token BPE vocabulary). It is seeded, so the
same arguments give the same bytes (and sha256), and its shapes (rows multiple of 256) allow
quantizing to Q8_0, Q4_K_M and the other K-quants.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from .. import io
from ..errors import InputError
from ..models.gguf_file import T_ARRAY, T_STRING, read_header, validate_gguf
from ..models.registry import resolve


def value_types() -> dict[int, Any]:
    """GGUF value type id -> ``gguf.GGUFValueType`` (what ``GGUFWriter.add_key_value`` takes)."""
    return {int(t): t for t in gguf.GGUFValueType}


def to_writer_value(val: Any, vtype: int, sub: int | None) -> Any:
    """A value read by :func:`tokprobe.models.read_header` in the form ``GGUFWriter`` writes back."""
    if vtype == T_STRING:
        return val.encode("utf-8", "surrogateescape")
    if vtype == T_ARRAY:
        if sub == T_STRING:
            return [s.encode("utf-8", "surrogateescape") for s in val]
        return np.asarray(val).tolist()
    return val


TokenizerKeys = dict[str, tuple[Any, int, int | None]]


@dataclass(frozen=True)
class TinyShape:
    """The shapes of a tiny llama model (checked by :func:`tiny_shape`)."""

    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


def tiny_shape(n_embd: int, n_layer: int, n_head: int | None, n_head_kv: int | None, n_ff: int | None) -> TinyShape:
    """The shapes with their defaults filled in; InputError when they do not fit together."""
    if n_embd < 32 or n_embd % 32:
        raise InputError(f"n_embd must be a positive multiple of 32, got {n_embd}")
    if n_layer < 1:
        raise InputError(f"n_layer must be at least 1, got {n_layer}")
    n_head = n_head or max(1, n_embd // 64)
    n_head_kv = n_head_kv or n_head
    if n_embd % n_head or n_head % n_head_kv:
        raise InputError(f"n_embd={n_embd}, n_head={n_head}, n_head_kv={n_head_kv} are inconsistent")
    return TinyShape(n_embd, n_layer, n_head, n_head_kv, n_ff or 2 * n_embd)


def tokenizer_keys(tokenizer_from: str | os.PathLike[str]) -> tuple[TokenizerKeys, int]:
    """Every ``tokenizer.*`` key of a model (name or path) with its value types, and its n_vocab."""
    header = validate_gguf(resolve(tokenizer_from))
    keys: TokenizerKeys = {}
    for key, val in header.kv.items():
        if key.startswith("tokenizer."):
            vtype, sub = header.kv_types[key]
            keys[key] = (val, vtype, sub)
    return keys, header.n_vocab


def _add_tensors(w: gguf.GGUFWriter, shape: TinyShape, n_vocab: int, seed: int) -> None:
    rng = np.random.default_rng(seed)

    def mat(rows: int, cols: int, scale: float) -> np.ndarray:
        # numpy shape (rows, cols) is ggml ne = (cols, rows): cols is the row length.
        return (rng.standard_normal((rows, cols), dtype=np.float32) * scale).astype(np.float16)

    n_embd, n_ff, kv_dim = shape.n_embd, shape.n_ff, shape.n_head_kv * shape.head_dim
    # Tied embeddings (no output.weight): logits = h . E^T, std ~ sqrt(n_embd) * 0.1.
    w.add_tensor("token_embd.weight", mat(n_vocab, n_embd, 0.1))
    w.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    s = 1.0 / np.sqrt(n_embd)
    for i in range(shape.n_layer):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        w.add_tensor(p + "attn_q.weight", mat(n_embd, n_embd, s))
        w.add_tensor(p + "attn_k.weight", mat(kv_dim, n_embd, s))
        w.add_tensor(p + "attn_v.weight", mat(kv_dim, n_embd, s))
        w.add_tensor(p + "attn_output.weight", mat(n_embd, n_embd, s))
        w.add_tensor(p + "ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        w.add_tensor(p + "ffn_gate.weight", mat(n_ff, n_embd, s))
        w.add_tensor(p + "ffn_up.weight", mat(n_ff, n_embd, s))
        w.add_tensor(p + "ffn_down.weight", mat(n_embd, n_ff, 1.0 / np.sqrt(n_ff)))


def make_tiny_model(
    path: str | os.PathLike[str],
    *,
    tokenizer_from: str | os.PathLike[str] = "smollm2-135m",
    n_embd: int = 256,
    n_layer: int = 2,
    seed: int = 0,
    n_head: int | None = None,
    n_head_kv: int | None = None,
    n_ff: int | None = None,
    context_length: int = 2048,
    with_tokenizer: bool = True,
) -> Path:
    """Write a tiny random llama GGUF to ``path`` (atomically) and return the path.

    ``tokenizer_from``: a model name or GGUF path whose ``tokenizer.*`` keys are copied (the chat
    template included). ``n_embd`` must be a multiple of 256 for K-quants (32 for Q8_0/Q4_0).
    ``with_tokenizer=False`` writes a model without tokenizer keys (an invalid model for tokprobe,
    used to test the error path).
    """
    shape = tiny_shape(n_embd, n_layer, n_head, n_head_kv, n_ff)
    tok_kv: TokenizerKeys = {}
    n_vocab = 256
    source = "none"
    if with_tokenizer:
        tok_kv, n_vocab = tokenizer_keys(tokenizer_from)
        source = str(tokenizer_from)
    target = Path(path)
    types = value_types()
    with io.atomic_path(target) as tmp:
        w = gguf.GGUFWriter(str(tmp), arch="llama")
        w.add_name(f"tokprobe tiny llama (n_embd {n_embd}, {n_layer} layers, seed {seed}, tokenizer {source})")
        w.add_context_length(context_length)
        w.add_embedding_length(n_embd)
        w.add_block_count(n_layer)
        w.add_feed_forward_length(shape.n_ff)
        w.add_head_count(shape.n_head)
        w.add_head_count_kv(shape.n_head_kv)
        w.add_rope_dimension_count(shape.head_dim)
        w.add_rope_freq_base(10000.0)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_vocab_size(n_vocab)
        w.add_file_type(int(gguf.LlamaFileType.MOSTLY_F16))
        for key, (val, vtype, sub) in tok_kv.items():
            w.add_key_value(key, to_writer_value(val, vtype, sub), types[vtype],
                            types[sub] if sub is not None else None)
        _add_tensors(w, shape, n_vocab, seed)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    return target


def write_tokenizer_variant(model: str | os.PathLike[str], out: str | os.PathLike[str], *,
                            tokens: Callable[[list[Any]], list[Any]] | None = None,
                            add_bos: bool | None = None) -> Path:
    """A vocab-only GGUF at ``out`` with ``model``'s tokenizer keys, edited: ``tokens`` maps the
    token texts to new ones, ``add_bos`` sets ``tokenizer.ggml.add_bos_token``. Feed it to
    :func:`make_tiny_model` (``tokenizer_from=``) for a tiny model with that vocabulary."""
    h = validate_gguf(model)
    w = gguf.GGUFWriter(str(out), arch="llama")
    types = value_types()
    for key, val in h.kv.items():
        if not key.startswith("tokenizer.") or (add_bos is not None and key == "tokenizer.ggml.add_bos_token"):
            continue
        if key == "tokenizer.ggml.tokens" and tokens is not None:
            val = tokens(list(val))
        vtype, sub = h.kv_types[key]
        w.add_key_value(key, to_writer_value(val, vtype, sub), types[vtype], types[sub] if sub is not None else None)
    if add_bos is not None:
        w.add_bool("tokenizer.ggml.add_bos_token", add_bos)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return Path(out)


def write_bad_gguf(path: str | os.PathLike[str], kind: str, *, good: str | os.PathLike[str] | None = None) -> Path:
    """Write a broken file for error-path tests. ``kind``: 'empty', 'text', 'magic', 'version',
    'truncated' (needs ``good``), 'huge_counts', 'bad_offset' (needs ``good``)."""
    p = Path(path)
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("this is not a model\n")
    elif kind == "magic":
        p.write_bytes(b"GGML" + b"\0" * 60)
    elif kind == "version":
        p.write_bytes(b"GGUF" + struct.pack("<IQQ", 7, 0, 0))
    elif kind == "huge_counts":
        p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**40, 2**40) + b"\0" * 64)
    elif kind in ("truncated", "bad_offset"):
        if good is None:
            raise InputError(f"write_bad_gguf({kind!r}) needs good=<a valid GGUF>")
        data = bytearray(Path(good).read_bytes())
        if kind == "truncated":
            data = data[: len(data) * 2 // 3]
        else:
            h = read_header(good)
            t = h.tensors[-1]
            # Find the last tensor's offset field (name, n_dims, dims, type, offset) and push it out of the file.
            name = t.name.encode()
            i = bytes(data).rfind(struct.pack("<Q", len(name)) + name)
            off_pos = i + 8 + len(name) + 4 + 8 * len(t.shape) + 4
            struct.pack_into("<Q", data, off_pos, t.offset + -(-len(data) // h.alignment) * h.alignment)
        p.write_bytes(bytes(data))
    else:
        raise InputError(f"unknown bad-file kind {kind!r}")
    return p
