"""Everything that touches llama.cpp: GGUF validation, loading, metadata, tokenizer, streaming
evaluation, generation, quantization, named models and tiny test models.

Only this package imports ``llama_cpp`` (lazily: header validation, names and the cache work
without loading it).

    >>> from tokprobe.models import load
    >>> m = load("gemma3-270m", n_ctx=512)
    >>> ids = m.tokenize(open("x.py").read())
    >>> for b in m.evaluate(ids, batch=256):       # b.logits: zero-copy float32 [rows, n_vocab]
    ...     stats = tokprobe.core.row_stats(b.logits, b.targets)
"""

from __future__ import annotations

from typing import Any

from .gguf_file import FILE_TYPE_NAMES, GGML_TYPES, GGUFHeader, TensorInfo, read_metadata, validate_gguf
from .model import (
    EvalBatch,
    Generation,
    Model,
    ModelInfo,
    Window,
    load,
    model_info,
    plan_windows,
)
from .quantize import DEFAULT_LADDER, QuantResult, ladder, normalize_type, quant_types, quantize, quantize_many
from .registry import (
    DEFAULT_MODEL,
    MODELS,
    ModelSpec,
    default_cache_dir,
    fetch,
    file_sha256,
    list_models,
    register_name,
    registered_names,
    resolve,
    split_ladder_name,
)
from .vocab import KIND_NAMES, VOCAB_TYPE_NAMES, Vocab

__all__ = [
    "DEFAULT_LADDER", "DEFAULT_MODEL", "EvalBatch", "FILE_TYPE_NAMES", "GGML_TYPES", "GGUFHeader", "Generation",
    "KIND_NAMES", "MODELS", "Model", "ModelInfo", "ModelSpec", "QUANT_TYPES", "QuantResult", "TensorInfo",
    "VOCAB_TYPE_NAMES", "Vocab", "Window", "default_cache_dir", "fetch", "file_sha256", "ladder", "list_models",
    "load", "model_info", "normalize_type", "plan_windows", "quant_types", "quantize", "quantize_many",
    "read_metadata", "register_name", "registered_names", "resolve", "split_ladder_name", "validate_gguf",
]


def __getattr__(name: str) -> Any:
    # QUANT_TYPES is derived from llama_cpp's constants: computed on first access only.
    if name == "QUANT_TYPES":
        return quant_types()
    raise AttributeError(f"module 'tokprobe.models' has no attribute {name!r}")
