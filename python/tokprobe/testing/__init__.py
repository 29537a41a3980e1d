"""Test doubles and tiny models, for tokprobe's tests and for users testing code built on tokprobe.

- :mod:`.tiny_models`: tiny random llama GGUF models with a real tokenizer (:func:`make_tiny_model`)
  and broken files for error paths (:func:`write_bad_gguf`).
- :mod:`.crafted`: valid models with header values replaced, for robustness tests
  (:func:`write_kv_variant`, :func:`patch_u32`).
- :mod:`.fake_vocab`: constructed vocabularies shaped like ``tokprobe.models.Vocab`` (no llama.cpp).
"""

from __future__ import annotations

from .crafted import patch_u32, u32_keys, write_kv_variant
from .fake_vocab import FakeVocab, TableVocab, byte_fallback_vocab, tiny_vocab
from .tiny_models import (
    TinyShape,
    make_tiny_model,
    tiny_shape,
    to_writer_value,
    tokenizer_keys,
    value_types,
    write_bad_gguf,
    write_tokenizer_variant,
)

__all__ = [
    "FakeVocab",
    "TableVocab",
    "TinyShape",
    "byte_fallback_vocab",
    "make_tiny_model",
    "patch_u32",
    "tiny_shape",
    "tiny_vocab",
    "to_writer_value",
    "tokenizer_keys",
    "u32_keys",
    "value_types",
    "write_bad_gguf",
    "write_kv_variant",
    "write_tokenizer_variant",
]
