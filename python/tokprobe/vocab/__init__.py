"""Vocabulary analysis (docs/method.md §1): composition, keyword coverage, whitespace runs, corpus statistics.

The keyword lists, token classes and surface forms it reads are the shared lexicon
(:mod:`tokprobe.lexicon`); the names of it listed below are re-exported here for the analysis API.
"""

from __future__ import annotations

from ..lexicon import (
    FORMS,
    TOKEN_CLASSES,
    class_map,
    classify,
    english_lexicon,
    keyword_languages,
    keyword_sources,
    load_control_words,
    load_keywords,
    load_operators,
    split_text,
)
from .analysis import VocabReport, analyze, open_tokenizer, resolve_tokenizer, whitespace_runs
from .composition import composition
from .corpus_stats import CorpusStats, corpus_stats
from .coverage import coverage_summary, coverage_wide, keyword_tokens
from .fetch import fetch_vocabs, list_vocabs, vocab_path
from .plot import plot_coverage_heatmap
from .run import VocabRun, plan_vocab

__all__ = [
    "FORMS",
    "TOKEN_CLASSES",
    "CorpusStats",
    "VocabReport",
    "VocabRun",
    "analyze",
    "class_map",
    "classify",
    "composition",
    "corpus_stats",
    "coverage_summary",
    "coverage_wide",
    "english_lexicon",
    "fetch_vocabs",
    "keyword_languages",
    "keyword_sources",
    "keyword_tokens",
    "list_vocabs",
    "load_control_words",
    "load_keywords",
    "load_operators",
    "open_tokenizer",
    "plan_vocab",
    "plot_coverage_heatmap",
    "resolve_tokenizer",
    "split_text",
    "vocab_path",
    "whitespace_runs",
]
