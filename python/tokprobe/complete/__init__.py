"""Completion probes: greedy line and block completions of real held-out code in all 12 languages.

Typical use::

    from tokprobe.complete import ProbeSettings, complete

    res = complete("gemma3-270m-F16", ["gemma3-270m-Q2_K"], settings=ProbeSettings(probes_per_language=8))
    res.summary()    # exact match, edit similarity, validity per model and language, 95 % file intervals
    res.paired()     # variant - reference on the same probes; ``loses`` only where the interval excludes 0
    res.flips()      # exact match right <-> wrong, with the divergence at the probe's first token

Modules: :mod:`.probes` (where probes sit), :mod:`.plan` (the corpus plan and each model's prompts),
:mod:`.metrics`, :mod:`.syntax` (tree-sitter validity), :mod:`.run`, :mod:`.result`, :mod:`.plot`.
"""

from .metrics import edit_similarity, exact_match, normalize
from .plan import CorpusPlan, FilePlan, plan_corpus
from .plot import plot_summary
from .probes import MODES, Probe, block_end, candidates, sample_probes
from .result import CompleteResult
from .run import (
    DEFAULT_MAX_TOKENS,
    FirstTokens,
    ModelPass,
    ProbeSettings,
    assemble,
    complete,
    complete_model,
    extract,
    plan_only,
    plan_probes,
)
from .syntax import GRAMMARS, GrammarError, error_count, grammar_for, python_ast_ok, splice

__all__ = [
    "DEFAULT_MAX_TOKENS", "GRAMMARS", "MODES", "CompleteResult", "CorpusPlan", "FilePlan", "FirstTokens",
    "GrammarError", "ModelPass", "Probe", "ProbeSettings", "assemble", "block_end", "candidates", "complete",
    "complete_model", "edit_similarity", "error_count", "exact_match", "extract", "grammar_for", "normalize",
    "plan_corpus", "plan_only", "plan_probes", "plot_summary", "python_ast_ok", "sample_probes", "splice",
]
