"""One vocabulary run from user-level choices: a keyword file, extend or replace, a language filter,
a corpus named as every command names one.

:func:`analyze` takes keyword and operator lists and a loaded corpus; :func:`plan_vocab` builds them
from the choices a user makes (checking every input before any work starts) and records those
choices in the provenance; :meth:`VocabRun.run` does the work.

    >>> run = plan_vocab(["qwen2"], keyword_file="my.json", languages="python,rust")  # doctest: +SKIP
    >>> report = run.run()                                                            # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..corpus import Corpus, load_corpus
from ..lexicon import parse_languages
from ..lexicon.keywords import load_keywords, load_operators
from .analysis import DEFAULT_TOKENIZERS, WS_MAX_RUN, VocabReport, analyze


@dataclass
class VocabRun:
    """Everything :func:`analyze` needs, inputs loaded and checked."""

    tokenizers: list[Any]
    keywords: dict[str, list[str]]
    operators: dict[str, list[str]]
    corpus: Corpus | None = None
    top_n: int = 20
    whitespace_max_run: int = WS_MAX_RUN
    settings: dict[str, Any] = field(default_factory=dict)

    def run(self, progress: Callable[[int, int], None] | None = None) -> VocabReport:
        return analyze(self.tokenizers, self.keywords, operators=self.operators, corpus=self.corpus,
                       top_n=self.top_n, whitespace_max_run=self.whitespace_max_run, progress=progress,
                       settings=self.settings)


def plan_vocab(
    tokenizers: Sequence[Any] = DEFAULT_TOKENIZERS,
    *,
    keyword_file: str | os.PathLike[str] | None = None,
    replace_keywords: bool = False,
    languages: str | list[str] | tuple[str, ...] | None = None,
    corpus: Corpus | str | os.PathLike[str] | None = None,
    corpus_language: str | None = None,
    top_n: int = 20,
    whitespace_max_run: int = WS_MAX_RUN,
) -> VocabRun:
    """A :class:`VocabRun`: the shipped keyword lists extended by ``keyword_file`` (or replaced by it,
    ``replace_keywords``), restricted to ``languages`` ('python,c++' or a list; None = all), the
    operators of those languages, and ``corpus`` for the corpus statistics (None: none; a name or
    path as :func:`tokprobe.corpus.load_corpus` takes it, read as ``corpus_language`` if given).

    The keyword file, the mode and the languages are recorded in the provenance (``settings``).
    """
    keywords = load_keywords(keyword_file, extend=not replace_keywords, languages=parse_languages(languages))
    operators = load_operators(languages=list(keywords))
    if corpus is not None and not isinstance(corpus, Corpus):
        corpus = load_corpus(corpus, corpus_language)
    settings = {
        "keyword_file": str(keyword_file) if keyword_file else None,
        "keyword_mode": "replace" if replace_keywords else "extend",
        "languages": list(keywords),
    }
    return VocabRun(list(tokenizers), keywords, operators, corpus, top_n, whitespace_max_run, settings)
