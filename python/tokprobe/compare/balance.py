"""Balanced evidence: about N scored tokens of every language, spread over as many files as it has.

A run over a corpus cut to a budget would otherwise measure whichever languages come first, and a
language scored from one long file has one cluster for the file bootstrap (no interval at all). So
``--tokens-per-language N`` shares each language's N scored tokens among its files like water
filling a vessel: a level ``s`` is raised until ``sum(min(scored(f), s)) >= N``; a file with at most
``s`` scored tokens is taken whole, a longer one as its first lines up to about ``s`` scored tokens
(cut at the end of a line). Every file of the language therefore contributes, which gives the most
clusters for a given cost. A language with fewer than N scored tokens in all keeps all of them (and
is marked "too few" by the group minimum where that applies). The kept files are ordered round-robin
over the languages (first file of each language, then the second, ...), so a token cap or a
concatenating scheme also sees every language.

The counts are exact for the run's scheme: each candidate corpus is tokenized with the reference and
its windows planned; a language whose cut prefixes re-tokenize to fewer than N scored tokens gets
its level raised and is cut again. Under the concatenating ``llama`` scheme a language whose text is
shorter than half a window can still land in an unscored half and get none: use the ``file`` scheme
(the default) for per-language evidence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from ..corpus import Corpus, CorpusFile
from ..errors import InputError

#: ``scored(files) -> scored tokens per file`` for the run's tokenizer and scheme.
ScoredCounter = Callable[[list[CorpusFile]], list[int]]
_MAX_ROUNDS = 6


def water_level(available: list[int], need: int) -> int:
    """The smallest level ``s`` with ``sum(min(a, s) for a in available) >= need`` (all of them if short)."""
    if need <= 0:
        return 0
    if sum(available) <= need:
        return max(available, default=0)
    lo, hi = 0, max(available)
    while lo < hi:
        mid = (lo + hi) // 2
        if sum(min(a, mid) for a in available) >= need:
            hi = mid
        else:
            lo = mid + 1
    return lo


def prefix_lines(f: CorpusFile, n_bytes: int) -> CorpusFile:
    """The first lines of ``f`` covering at least ``n_bytes`` bytes (the whole file if it is shorter)."""
    raw = f.text.encode("utf-8")
    if n_bytes >= len(raw):
        return f
    end = raw.find(b"\n", max(n_bytes - 1, 0))
    if end < 0 or end + 1 >= len(raw):
        return f
    cut = raw[: end + 1]
    return CorpusFile(f.path, f.language, cut.decode("utf-8"), len(cut), hashlib.sha256(cut).hexdigest())


def _round_robin(by_language: dict[str, list[CorpusFile]]) -> list[CorpusFile]:
    out: list[CorpusFile] = []
    depth = max((len(v) for v in by_language.values()), default=0)
    for i in range(depth):
        out.extend(files[i] for files in by_language.values() if i < len(files))
    return out


def _cut_language(files: list[CorpusFile], scored: list[int], level: int) -> list[CorpusFile]:
    """Each file whole when it has at most ``level`` scored tokens, else its prefix of about that many."""
    kept: list[CorpusFile] = []
    for f, n in zip(files, scored, strict=True):
        if n <= level:
            kept.append(f)
        elif level > 0:
            kept.append(prefix_lines(f, max(1, f.n_bytes * level // max(n, 1))))
    return kept


def balance_corpus(corpus: Corpus, tokens_per_language: int, scored: ScoredCounter) -> Corpus:
    """``corpus`` cut to about ``tokens_per_language`` scored tokens of each language (see the module)."""
    if tokens_per_language < 1:
        raise InputError(f"--tokens-per-language must be at least 1, got {tokens_per_language}")
    full = corpus.by_language()
    whole = dict(zip([id(f) for f in corpus.files], scored(list(corpus.files)), strict=True))
    available = {lang: [whole[id(f)] for f in files] for lang, files in full.items()}
    need = dict.fromkeys(full, tokens_per_language)
    chosen: dict[str, list[CorpusFile]] = {}
    for _ in range(_MAX_ROUNDS):
        for lang, files in full.items():
            chosen[lang] = _cut_language(files, available[lang], water_level(available[lang], need[lang]))
        kept = _round_robin(chosen)
        counts = _per_language(kept, scored(kept))
        short = {lang: tokens_per_language - counts.get(lang, 0) for lang in full
                 if counts.get(lang, 0) < min(tokens_per_language, sum(available[lang]))}
        if not short:
            break
        for lang, missing in short.items():
            need[lang] += max(missing, 1)
    return Corpus(kept, corpus.root, dict(corpus.skipped), list(corpus.skipped_files))


def _per_language(files: list[CorpusFile], scored: list[int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f, n in zip(files, scored, strict=True):
        out[f.language] = out.get(f.language, 0) + n
    return out

