"""Cold-start probability analysis (docs/method.md §2): what a model puts at the first position.

P_cold(t | M) = softmax over the full vocabulary of the logits at the first generated position
after a short, explicit context (``auto``/``bos``/``eos``/``chat``/``text:``/``ids:``, see
:mod:`tokprobe.coldstart.context`). From that one row per model:

* PKP (keyword tokens, bare and space-prefixed forms by default), KAP = PKP / distinct keywords,
  PKP and KAP per language;
* STP (decoded text, leading whitespace stripped, starts with ASCII punctuation or a symbol;
  set size reported), NLP (shipped English control list, minus keyword tokens), indentation
  probability (whitespace-only tokens), control-token mass, entropy;
* the top-k tokens with decoded text and class; how many tokens hold 80/85/90/95% of PKP and
  of STP; every keyword token's probability and rank;
* optionally (``chain=True``) exact probabilities of every keyword form, multi-token ones by
  chaining conditionals;
* between models with the same vocabulary: KL both ways, JS, top-k overlap, Spearman of keyword
  probabilities, and the tokens whose probability moved most, relative to the reference (the
  first model unless ``reference`` says otherwise).

Rules are in :mod:`tokprobe.coldstart.tokensets`; all results are keyed by token id.

    >>> from tokprobe.coldstart import coldstart
    >>> res = coldstart(["gemma3-270m-F16", "gemma3-270m-Q4_0"], context="bos")  # doctest: +SKIP
    >>> res.summary[["model", "pkp", "kap", "stp", "nlp", "kl_to_ref"]]      # doctest: +SKIP
"""

from __future__ import annotations

from ..lexicon.forms import KEYWORD_FORMS
from .analysis import TABLES, ColdStartResult, coldstart
from .context import (
    CONTEXT_HELP,
    DEFAULT_CONTEXT,
    ContextSpec,
    ResolvedContext,
    auto_mode,
    parse_context,
    resolve_context,
)
from .ladder import ladder_models
from .metrics import HOLD_LEVELS, holders, row_metrics, spearman
from .replay import ColdRow, measure_row
from .tokensets import (
    DEFAULT_KEYWORD_FORMS,
    STP_RULE,
    TokenSets,
    build_token_sets,
    is_indent_text,
    is_stp_text,
)
from .words import load_control_words, load_keyword_lists

__all__ = [
    "coldstart",
    "ColdRow",
    "measure_row",
    "ColdStartResult",
    "TABLES",
    "CONTEXT_HELP",
    "DEFAULT_CONTEXT",
    "ContextSpec",
    "ResolvedContext",
    "auto_mode",
    "parse_context",
    "resolve_context",
    "HOLD_LEVELS",
    "holders",
    "row_metrics",
    "spearman",
    "DEFAULT_KEYWORD_FORMS",
    "KEYWORD_FORMS",
    "STP_RULE",
    "TokenSets",
    "build_token_sets",
    "is_indent_text",
    "is_stp_text",
    "load_control_words",
    "load_keyword_lists",
    "ladder_models",
]
