"""The word lists cold start measures with: programming keywords and the English control list.

Both come from the shared lexicon (:mod:`tokprobe.lexicon`): the keyword
lists per language (``tokprobe/data/keywords/<language>.json``, each with its source) and the
fixed English control list for NLP (``tokprobe/data/english_control_words.txt``, source noted in
its header).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InputError
from ..lexicon import english
from ..lexicon.keywords import load_keywords, parse_keyword_mapping, select_languages


def _languages(languages: Sequence[str] | str | None) -> list[str] | None:
    if languages is None:
        return None
    if isinstance(languages, str):
        languages = [x for x in languages.replace(",", " ").split() if x]
    out = [str(x) for x in languages]
    if not out:
        raise InputError("--languages is empty")
    return out


def load_keyword_lists(
    keywords: Mapping[str, Sequence[str]] | str | os.PathLike[str] | None = None,
    languages: Sequence[str] | str | None = None,
) -> tuple[dict[str, list[str]], str]:
    """Keyword lists by language, and where they came from.

    ``keywords``: None (the shipped lists), a path to a keyword file (added to the shipped
    lists, as :func:`tokprobe.lexicon.load_keywords` does), or a mapping language -> keywords
    (used as given). ``languages`` keeps only those languages (aliases such as ``C++`` accepted).
    """
    langs = _languages(languages)
    if keywords is None or isinstance(keywords, (str, os.PathLike)):
        lists = load_keywords(keywords, languages=langs)
        source = "shipped keyword lists" if keywords is None else f"shipped keyword lists + {keywords}"
    elif isinstance(keywords, Mapping):
        lists = parse_keyword_mapping(dict(keywords), "keywords")
        source = "caller-supplied mapping"
        if langs is not None:
            lists = select_languages(lists, langs)
    else:
        raise InputError("keywords must be a mapping language -> list of keywords, a path, or None")
    out = {str(lang): [str(k) for k in kws] for lang, kws in lists.items() if kws}
    if not out:
        raise InputError("no keywords to measure PKP with")
    return out, source


def load_control_words(control: Sequence[str] | str | os.PathLike[str] | None = None) -> tuple[list[str], str]:
    """The English control words for NLP and a description of their source."""
    if control is None:
        return english.load_control_words(), f"tokprobe/data/{english.CONTROL_WORDS_FILE.name}"
    if isinstance(control, (str, os.PathLike)):
        return english.load_control_words(control), str(control)
    words = [str(w).strip() for w in control if str(w).strip()]
    if not words:
        raise InputError("the English control list is empty")
    return list(dict.fromkeys(words)), "caller-supplied list"


def digest_words(words: Any) -> str:
    """Short sha256 of a word list or a mapping of word lists (recorded in provenance)."""
    h = hashlib.sha256()
    if isinstance(words, Mapping):
        for k in sorted(words):
            h.update(str(k).encode() + b"\0" + "\0".join(words[k]).encode() + b"\1")
    else:
        h.update("\0".join(words).encode())
    return h.hexdigest()[:16]
