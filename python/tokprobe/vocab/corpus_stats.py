"""Token statistics of a code corpus under one tokenizer.

Per language (and ``ALL``): bytes per token, characters per token, tokens per line and fertility
(tokens per word, where a word is a maximal ``\\w+`` run: identifiers, numbers, natural words —
punctuation and whitespace tokens count in the numerator only). Token histograms (top-N ids and
per class) are counted by ``tokprobe.core.TokenHistogram``; results are keyed by token id.
Files are tokenized whole, without BOS and without parsing special-token text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

from ..core import TokenHistogram
from ..corpus import Corpus, CorpusFile
from ..errors import EmptyInputError
from ..lexicon.token_classes import TOKEN_CLASSES, class_map
from ..provenance import available_cores

_WORD_RE = re.compile(r"\w+")


@dataclass
class CorpusStats:
    per_language: pd.DataFrame
    per_file: pd.DataFrame
    top_tokens: pd.DataFrame
    class_counts: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)


FILE_COLUMNS = ["path", "language", "n_bytes", "n_chars", "n_lines", "n_words", "n_tokens"]
_COUNT_COLUMNS = ["n_bytes", "n_chars", "n_lines", "n_words", "n_tokens"]


def _token_ids(vocab: Any, f: CorpusFile) -> np.ndarray:
    ids = vocab.tokenize(f.text, add_bos=False, special=False)
    return np.ascontiguousarray(np.asarray(ids), dtype=np.int32)


def _count_tokens(
    vocab: Any, corpus: Corpus, cmap: np.ndarray, n_threads: int, progress: Callable[[int, int], None] | None
) -> tuple[dict[str, TokenHistogram], pd.DataFrame]:
    """Histograms per language and ``ALL``, and one row per file (FILE_COLUMNS)."""
    n_vocab = int(vocab.n_vocab)
    hists: dict[str, TokenHistogram] = {}
    file_rows = []
    done = 0
    total_bytes = corpus.n_bytes
    pool = ThreadPoolExecutor(n_threads) if n_threads > 1 and len(corpus.files) > 1 else None
    mapper = pool.map if pool is not None else map
    token_stream = mapper(_token_ids, repeat(vocab), corpus.files)
    try:
        for f, ids in zip(corpus.files, token_stream, strict=True):
            for key in (f.language, "ALL"):
                h = hists.get(key)
                if h is None:
                    h = hists[key] = TokenHistogram(n_vocab, class_map=cmap, n_classes=len(TOKEN_CLASSES))
                h.add(ids)
            n_words = len(_WORD_RE.findall(f.text))
            file_rows.append((corpus.relpath(f), f.language, f.n_bytes, len(f.text), f.n_lines, n_words, int(ids.size)))
            done += f.n_bytes
            if progress is not None:
                progress(done, total_bytes)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return hists, pd.DataFrame(file_rows, columns=FILE_COLUMNS)


def _per_language(per_file: pd.DataFrame, langs: list[str]) -> pd.DataFrame:
    agg = per_file.groupby("language", sort=False)[_COUNT_COLUMNS].sum()
    agg["files"] = per_file.groupby("language", sort=False).size()
    agg = agg.reindex(langs)
    agg.loc["ALL"] = agg.sum()
    agg = agg.reset_index().rename(columns={"index": "language"})
    ntok = agg["n_tokens"].replace(0, np.nan)
    agg["bytes_per_token"] = agg["n_bytes"] / ntok
    agg["chars_per_token"] = agg["n_chars"] / ntok
    agg["tokens_per_line"] = agg["n_tokens"] / agg["n_lines"].replace(0, np.nan)
    agg["fertility"] = agg["n_tokens"] / agg["n_words"].replace(0, np.nan)
    cols = ["language", "files", "n_bytes", "n_lines", "n_words", "n_tokens", "bytes_per_token",
            "chars_per_token", "tokens_per_line", "fertility"]
    ints = {"files": "int64", "n_bytes": "int64", "n_lines": "int64", "n_words": "int64", "n_tokens": "int64"}
    return agg[cols].astype(ints)


def _histogram_tables(
    hists: dict[str, TokenHistogram], keys: list[str], token_bytes: list[bytes], cmap: np.ndarray, top_n: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(top tokens, class counts) of every language and ``ALL``."""
    top_rows, class_rows = [], []
    for key in keys:
        h = hists[key]
        counts = np.asarray(h.counts, dtype=np.int64)
        total = int(counts.sum())
        k = min(top_n, int((counts > 0).sum()))
        if k:
            order = np.lexsort((np.arange(len(counts)), -counts))[:k]  # count desc, then id asc
            for rank, tid in enumerate(order.tolist(), 1):
                top_rows.append((key, rank, tid, token_bytes[tid].decode("utf-8", "backslashreplace"),
                                 TOKEN_CLASSES[cmap[tid]], int(counts[tid]), counts[tid] / total))
        cc = np.asarray(h.class_counts, dtype=np.int64)
        for ci, cname in enumerate(TOKEN_CLASSES):
            class_rows.append((key, cname, int(cc[ci]), cc[ci] / total if total else np.nan,
                               int(((counts > 0) & (cmap == ci)).sum())))
    top_tokens = pd.DataFrame(top_rows, columns=["language", "rank", "token_id", "text", "cls", "count", "share"])
    class_counts = pd.DataFrame(class_rows, columns=["language", "class", "count", "share", "n_distinct"])
    return top_tokens, class_counts


def corpus_stats(
    vocab: Any,
    corpus: Corpus,
    *,
    keywords: dict[str, list[str]] | None = None,
    top_n: int = 20,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CorpusStats:
    """Tokenize every file of ``corpus`` with ``vocab`` and gather per-language statistics.

    ``threads``: files tokenized concurrently (llama.cpp releases the GIL); default: available cores.
    """
    if not corpus.files:
        raise EmptyInputError("the corpus has no files")
    cmap = class_map(vocab, keywords)
    n_threads = max(1, int(threads if threads is not None else available_cores()))
    t0 = time.perf_counter()
    hists, per_file = _count_tokens(vocab, corpus, cmap, n_threads, progress)
    elapsed = time.perf_counter() - t0
    langs = corpus.languages
    per_language = _per_language(per_file, langs)
    top_tokens, class_counts = _histogram_tables(hists, [*langs, "ALL"], vocab.token_bytes, cmap, top_n)
    settings = {"top_n": top_n, "histogram": "core", "add_bos": False, "special": False,
                "fertility_word": r"\w+", "corpus_digest": corpus.digest, "tokenize_seconds": elapsed,
                "threads": n_threads}
    return CorpusStats(per_language, per_file, top_tokens, class_counts, settings)
