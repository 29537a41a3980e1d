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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..corpus import Corpus
from ..errors import EmptyInputError
from ..provenance import available_cores
from .classes import TOKEN_CLASSES, class_map

_WORD_RE = re.compile(r"\w+")


class _NumpyHistogram:
    """Stand-in with TokenHistogram's interface, used only when the native core is not built.

    Ids are kept and counted once on first read (a bincount per add would touch all V counters).
    """

    def __init__(self, n_vocab: int, class_map: np.ndarray | None = None, n_classes: int = 0) -> None:
        self._n = n_vocab
        self._cm = class_map
        self._nc = n_classes
        self._pending: list[np.ndarray] = []
        self._counts = np.zeros(n_vocab, dtype=np.int64)

    def add(self, ids: np.ndarray) -> None:
        self._pending.append(np.asarray(ids, dtype=np.int64).ravel())

    @property
    def counts(self) -> np.ndarray:
        if self._pending:
            ids = np.concatenate(self._pending)
            self._pending = []
            self._counts += np.bincount(ids, minlength=self._n)[: self._n]
        return self._counts

    @property
    def class_counts(self) -> np.ndarray:
        out = np.zeros(self._nc, dtype=np.int64)
        if self._cm is not None:
            ok = self._cm >= 0
            np.add.at(out, self._cm[ok], self.counts[ok])
        return out

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def make_histogram(n_vocab: int, cmap: np.ndarray, n_classes: int) -> tuple[Any, str]:
    """A core.TokenHistogram (native) or, if the extension is not built, the numpy stand-in."""
    try:
        from ..core import TokenHistogram
    except ImportError:
        return _NumpyHistogram(n_vocab, cmap, n_classes), "numpy"
    return TokenHistogram(n_vocab, class_map=cmap, n_classes=n_classes), "core"


@dataclass
class CorpusStats:
    per_language: pd.DataFrame
    per_file: pd.DataFrame
    top_tokens: pd.DataFrame
    class_counts: pd.DataFrame
    settings: dict = field(default_factory=dict)


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
    n_vocab = int(vocab.n_vocab)
    n_cls = len(TOKEN_CLASSES)
    hists: dict[str, Any] = {}
    backend = "core"
    file_rows = []
    total_bytes = corpus.n_bytes
    done = 0
    t0 = time.perf_counter()
    n_threads = max(1, int(threads if threads is not None else available_cores()))

    def tok(f: Any) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(vocab.tokenize(f.text, add_bos=False, special=False)), dtype=np.int32)

    pool = ThreadPoolExecutor(n_threads) if n_threads > 1 and len(corpus.files) > 1 else None
    token_stream = pool.map(tok, corpus.files) if pool is not None else map(tok, corpus.files)
    try:
        for f, ids in zip(corpus.files, token_stream):
            for key in (f.language, "ALL"):
                h = hists.get(key)
                if h is None:
                    h, backend = make_histogram(n_vocab, cmap, n_cls)
                    hists[key] = h
                h.add(ids)
            file_rows.append(
                (corpus.relpath(f), f.language, f.n_bytes, len(f.text), f.n_lines, len(_WORD_RE.findall(f.text)), int(ids.size))
            )
            done += f.n_bytes
            if progress is not None:
                progress(done, total_bytes)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    elapsed = time.perf_counter() - t0
    per_file = pd.DataFrame(file_rows, columns=["path", "language", "n_bytes", "n_chars", "n_lines", "n_words", "n_tokens"])
    langs = corpus.languages
    agg = per_file.groupby("language", sort=False)[["n_bytes", "n_chars", "n_lines", "n_words", "n_tokens"]].sum()
    agg["files"] = per_file.groupby("language", sort=False).size()
    agg = agg.reindex(langs)
    agg.loc["ALL"] = agg.sum()
    agg = agg.reset_index().rename(columns={"index": "language"})
    ntok = agg["n_tokens"].replace(0, np.nan)
    agg["bytes_per_token"] = agg["n_bytes"] / ntok
    agg["chars_per_token"] = agg["n_chars"] / ntok
    agg["tokens_per_line"] = agg["n_tokens"] / agg["n_lines"].replace(0, np.nan)
    agg["fertility"] = agg["n_tokens"] / agg["n_words"].replace(0, np.nan)
    per_language = agg[["language", "files", "n_bytes", "n_lines", "n_words", "n_tokens", "bytes_per_token",
                        "chars_per_token", "tokens_per_line", "fertility"]].astype(
        {"files": "int64", "n_bytes": "int64", "n_lines": "int64", "n_words": "int64", "n_tokens": "int64"})

    tb = vocab.token_bytes
    top_rows, class_rows = [], []
    for key in [*langs, "ALL"]:
        h = hists[key]
        counts = np.asarray(h.counts, dtype=np.int64)
        total = int(counts.sum())
        k = min(top_n, int((counts > 0).sum()))
        if k:
            order = np.lexsort((np.arange(len(counts)), -counts))[:k]  # count desc, then id asc
            for rank, tid in enumerate(order.tolist(), 1):
                top_rows.append((key, rank, tid, tb[tid].decode("utf-8", "backslashreplace"),
                                 TOKEN_CLASSES[cmap[tid]], int(counts[tid]), counts[tid] / total))
        cc = np.asarray(h.class_counts, dtype=np.int64)
        for ci, cname in enumerate(TOKEN_CLASSES):
            class_rows.append((key, cname, int(cc[ci]), cc[ci] / total if total else np.nan,
                               int(((counts > 0) & (cmap == ci)).sum())))
    top_tokens = pd.DataFrame(top_rows, columns=["language", "rank", "token_id", "text", "cls", "count", "share"])
    class_counts = pd.DataFrame(class_rows, columns=["language", "class", "count", "share", "n_distinct"])
    settings = {"top_n": top_n, "histogram": backend, "add_bos": False, "special": False,
                "fertility_word": r"\w+", "corpus_digest": corpus.digest, "tokenize_seconds": elapsed,
                "threads": n_threads}
    return CorpusStats(per_language, per_file, top_tokens, class_counts, settings)
