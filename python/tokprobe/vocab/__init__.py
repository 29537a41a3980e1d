"""Vocabulary analysis (METHOD.md §1): keyword data, token classes, coverage, corpus statistics.

Shared with the other analyses: ``keywords.load_keywords``, ``classes.TOKEN_CLASSES``,
``classes.classify`` / ``classes.class_map`` and ``coverage.keyword_tokens``.
"""

from __future__ import annotations

from .analysis import VocabReport, analyze, open_tokenizer, resolve_tokenizer, whitespace_runs
from .classes import TOKEN_CLASSES, class_map, classify, composition
from .corpus_stats import CorpusStats, corpus_stats
from .coverage import FORMS, coverage_summary, coverage_wide, keyword_tokens, split_text
from .fetch import fetch_vocabs, list_vocabs, vocab_path
from .keywords import (
    english_lexicon,
    keyword_languages,
    keyword_sources,
    load_control_words,
    load_keywords,
    load_operators,
)
from .plot import plot_coverage_heatmap

__all__ = [
    "FORMS",
    "TOKEN_CLASSES",
    "CorpusStats",
    "VocabReport",
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
    "plot_coverage_heatmap",
    "resolve_tokenizer",
    "split_text",
    "vocab_path",
    "whitespace_runs",
]
