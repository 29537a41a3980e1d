"""Token-level comparison of a reference model and its variants (quantized, distilled, ...).

``compare(reference, variants, corpus)`` decodes the same windows of a code corpus with the
reference and each variant and compares their full next-token distributions at every
scored position: llama.cpp's ``--kl-divergence`` statistics (PPL, ln PPL ratio, KL with
percentiles, Δp, same top-1) computed the way that tool defines them, plus reverse KL,
JS, entropies, top-k agreement, bits per byte, and breakdowns by language, by the source
class of the target token and by reference entropy.

Modes: ``lockstep`` (all models loaded, logits compared in place, memory O(batch x vocab)),
``cache-exact`` (reference stored once as float16 log-probs) and ``cache-topk`` (top-K +
tail mass with a stated KL bound); all resume after an interruption.

Modules: ``settings`` (options and keys), ``plan`` (models, stream, windows, stores),
``passes`` (one function per pass), ``bounds`` (error bounds of the cached modes),
``batches`` (evaluation batches and windows), ``engine`` (the orchestrator), ``parts`` (a run split
into parts and joined), ``result``.
"""

from ..lexicon.source_classes import SOURCE_CLASSES, byte_classes, span_classes
from ..models import SCHEMES, Window, plan_windows
from .engine import compare, compare_part
from .parts import join_parts, part_windows
from .plan import check_vocab
from .result import BREAKDOWNS, CompareResult
from .settings import DEFAULT_N_CTX, DEFAULT_TOPK, MODES, Settings
from .stats import DP_PERCENTILES, KL_PERCENTILES, llama_stats, mean_err
from .stream import TokenStream, build_stream

__all__ = [
    "BREAKDOWNS",
    "CompareResult",
    "DEFAULT_N_CTX",
    "DEFAULT_TOPK",
    "DP_PERCENTILES",
    "KL_PERCENTILES",
    "MODES",
    "SCHEMES",
    "SOURCE_CLASSES",
    "Settings",
    "TokenStream",
    "Window",
    "build_stream",
    "byte_classes",
    "check_vocab",
    "compare",
    "compare_part",
    "join_parts",
    "part_windows",
    "llama_stats",
    "mean_err",
    "plan_windows",
    "span_classes",
]
