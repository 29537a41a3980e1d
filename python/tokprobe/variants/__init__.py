"""Locally made variants of a small model: a code fine-tune and distilled students with fewer layers.

No registry ships distilled, fine-tuned or differently sized siblings of a small GGUF model, so this
package makes them, reproducibly, on CPU (optional extra ``tokprobe[train]``: torch, transformers)::

    >>> from tokprobe.variants import Recipe, build_variants
    >>> res = build_variants(Recipe(source="smollm2-135m", finetune_steps=200, distill_steps=200,
    ...                             student_layers=(6, 15)))
    >>> [v.name for v in res.variants]
    ['smollm2-135m-code', 'smollm2-135m-distill-L15', 'smollm2-135m-distill-L6']

Afterwards those names (and ``<name>-Q8_0``, ``<name>-Q4_1``) resolve like any model name.
The source GGUF is dequantized into a float32 Hugging Face model, trained with torch on real source
code (the shipped smoke corpus and the CPython standard library), converted back with llama.cpp's
``convert_hf_to_gguf.py`` (from the pinned llama-cpp-python sdist) and quantized with llama.cpp.
Every step is cached under ``<cache>/variants/<source>/`` with a done-marker recording its recipe
and seed; ``manifest.json`` records the whole recipe, versions, data and timings.

Importing this package does not import torch; :func:`build_variants` raises a one-line
:class:`tokprobe.errors.Error` when the ``train`` extra is missing.
"""

from __future__ import annotations

from .convert import MissingTrainDeps, require_train
from .pipeline import (
                       BuildResult,
                       Recipe,
                       Variant,
                       build_variants,
                       check_source,
                       plan_units,
                       source_prefix,
                       variants_dir,
)
from .train import select_layers

__all__ = ["BuildResult", "MissingTrainDeps", "Recipe", "Variant", "build_variants", "check_source", "plan_units",
           "require_train", "select_layers", "source_prefix", "variants_dir"]
