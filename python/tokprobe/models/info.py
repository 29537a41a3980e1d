"""What is known about a GGUF model without running it: its header plus llama.cpp's view of the vocabulary."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .gguf_file import GGUFHeader
from .vocab import Vocab


@dataclass
class ModelInfo:
    """Metadata of a GGUF model (header + llama.cpp's view of the vocabulary)."""

    name: str
    path: str
    arch: str | None
    n_params: int
    file_type: str | None
    file_type_id: int | None
    bits_per_weight: float | None
    file_size: int
    n_vocab: int
    vocab_type: str
    pre_tokenizer: str
    bos_id: int
    eos_id: int
    eot_id: int
    add_bos: bool
    add_eos: bool
    has_chat_template: bool
    sha256: str
    general_name: str | None = None
    description: str | None = None
    n_ctx_train: int | None = None
    n_embd: int | None = None
    n_layer: int | None = None
    n_head: int | None = None
    n_head_kv: int | None = None
    gguf_version: int = 3
    n_tensors: int = 0
    tensor_types: dict[str, int] = field(default_factory=dict)
    kind_counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _int_or_none(v: Any) -> int | None:
    try:
        return int(v) if v is not None and not isinstance(v, (str, list)) and np.ndim(v) == 0 else None
    except (TypeError, ValueError):
        return None


def build_info(name: str, header: GGUFHeader, vocab: Vocab, sha256: str, description: str | None) -> ModelInfo:
    """The :class:`ModelInfo` of a loaded model from its header, vocabulary, file hash and description."""
    return ModelInfo(
        name=name,
        path=str(header.path),
        arch=header.arch,
        n_params=header.n_params,
        file_type=header.file_type,
        file_type_id=header.file_type_id,
        bits_per_weight=header.bits_per_weight,
        file_size=header.file_size,
        n_vocab=vocab.n_vocab,
        vocab_type=vocab.type,
        pre_tokenizer=vocab.pre,
        bos_id=vocab.bos_id,
        eos_id=vocab.eos_id,
        eot_id=vocab.eot_id,
        add_bos=vocab.add_bos,
        add_eos=vocab.add_eos,
        has_chat_template=header.has_chat_template,
        sha256=sha256,
        general_name=header.kv.get("general.name") if isinstance(header.kv.get("general.name"), str) else None,
        description=description,
        n_ctx_train=_int_or_none(header.arch_value("context_length")),
        n_embd=_int_or_none(header.arch_value("embedding_length")),
        n_layer=_int_or_none(header.arch_value("block_count")),
        n_head=_int_or_none(header.arch_value("attention.head_count")),
        n_head_kv=_int_or_none(header.arch_value("attention.head_count_kv")),
        gguf_version=header.version,
        n_tensors=header.n_tensors,
        tensor_types=header.tensor_type_counts(),
        kind_counts=vocab.kind_counts(),
    )
