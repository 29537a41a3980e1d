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

from ..cache import cache_root as default_cache_dir
from ..cache import file_sha256
from ..lexicon.kinds import KIND_NAMES
from .evaluation import EvalBatch
from .generation import Generation
from .gguf_file import FILE_TYPE_NAMES, GGML_TYPES, GGUFHeader, TensorInfo, read_metadata, validate_gguf
from .handle import LabelledModel, is_model, label_for, open_labelled, unique_labels
from .info import ModelInfo
from .loading import load, model_info
from .model import Model
from .quantize import (
    DEFAULT_LADDER,
    REFERENCE_TYPES,
    QuantResult,
    is_reference_type,
    ladder,
    normalize_type,
    order_ladder,
    quant_types,
    quantize,
    quantize_many,
)
from .registry import (
    DEFAULT_MODEL,
    MODELS,
    ModelSpec,
    canonical_name,
    fetch,
    list_models,
    register_name,
    registered_names,
    resolve,
    split_ladder_name,
)
from .vocab import VOCAB_TYPE_NAMES, Vocab
from .windows import SCHEMES, Window, check_scheme, plan_windows

__all__ = [
    "DEFAULT_LADDER", "DEFAULT_MODEL", "EvalBatch", "FILE_TYPE_NAMES", "GGML_TYPES", "GGUFHeader", "Generation",
    "KIND_NAMES", "LabelledModel", "MODELS", "Model", "ModelInfo", "ModelSpec", "QUANT_TYPES", "QuantResult",
    "REFERENCE_TYPES", "SCHEMES", "TensorInfo", "VOCAB_TYPE_NAMES", "Vocab", "Window", "canonical_name",
    "check_scheme", "default_cache_dir", "fetch", "file_sha256", "is_model", "is_reference_type", "label_for",
    "ladder", "list_models", "load", "model_info", "normalize_type", "open_labelled", "order_ladder",
    "plan_windows", "quant_types", "quantize", "quantize_many", "read_metadata", "register_name",
    "registered_names", "resolve", "split_ladder_name", "unique_labels", "validate_gguf",
]


def __getattr__(name: str) -> Any:
    # QUANT_TYPES is derived from llama_cpp's constants: computed on first access only.
    if name == "QUANT_TYPES":
        return quant_types()
    raise AttributeError(f"module 'tokprobe.models' has no attribute {name!r}")
