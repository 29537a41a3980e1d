"""Token kinds: the GGUF token type of every vocabulary entry (normal, control, byte, ...).

``KIND_NAMES`` is the order of the values of ``Vocab.kind`` (the models layer stores each token's
kind as an index into it). llama.cpp re-types some tokens when it loads a vocabulary (Qwen2's base
BPE token ``</s>`` becomes a control token), so the types written in the GGUF file
(``tokenizer.ggml.token_type``) are the authority for the base vocabulary when they are known.
"""

from __future__ import annotations

from typing import Any

import numpy as np

KIND_NAMES: tuple[str, ...] = ("normal", "control", "byte", "user_defined", "unused", "unknown")

#: GGUF ``tokenizer.ggml.token_type`` values (llama.cpp's llama_token_type enum) -> kind name.
GGUF_TOKEN_TYPES: dict[int, str] = {
    0: "unknown", 1: "normal", 2: "unknown", 3: "control", 4: "user_defined", 5: "unused", 6: "byte",
}


def kind_names(vocab: Any) -> tuple[str, ...]:
    """Names of the values in ``vocab.kind``: the vocabulary's own ``KIND_NAMES`` if it has one."""
    names = getattr(vocab, "KIND_NAMES", None) or getattr(vocab, "kind_names", None)
    return tuple(names) if names else KIND_NAMES


def kind_ids(vocab: Any, kinds: tuple[str, ...] | list[str]) -> list[int]:
    """Values of ``vocab.kind`` that stand for the named kinds (names the vocabulary lacks are left out)."""
    names = list(kind_names(vocab))
    return [names.index(k) for k in kinds if k in names]


def file_token_types(vocab: Any) -> list[str] | None:
    """Token types as written in the GGUF file (``tokenizer.ggml.token_type``), when available.

    They come from ``vocab.file_token_type`` if the models layer offers it, else from the header it
    parsed. None when neither is there (then ``vocab.kind`` is used).
    """
    tt = getattr(vocab, "file_token_type", None)
    if tt is None:
        kv = getattr(getattr(vocab, "_header", None), "kv", None)
        tt = kv.get("tokenizer.ggml.token_type") if isinstance(kv, dict) else None
    if tt is None:
        return None
    arr = np.asarray(tt).ravel()
    if arr.size != int(vocab.n_vocab) or not np.issubdtype(arr.dtype, np.integer):
        return None
    return [GGUF_TOKEN_TYPES.get(int(t), "unknown") for t in arr.tolist()]


def token_kinds(vocab: Any) -> list[str]:
    """Type name of every token: the GGUF file's types when known, else the loaded ``vocab.kind``."""
    from_file = file_token_types(vocab)
    if from_file is not None:
        return from_file
    names = kind_names(vocab)
    kind = np.asarray(vocab.kind)
    return [names[k] if 0 <= k < len(names) else "unknown" for k in kind.tolist()]


def base_mask(vocab: Any, kinds: list[str] | None = None) -> np.ndarray:
    """Base vocabulary: entries typed normal or byte in the GGUF file (else ``vocab.base_mask``)."""
    if kinds is None and file_token_types(vocab) is None:
        return np.asarray(vocab.base_mask, dtype=bool)
    kinds = kinds if kinds is not None else token_kinds(vocab)
    return np.fromiter((k in ("normal", "byte") for k in kinds), dtype=bool, count=len(kinds))
