"""The word lists cold start measures with: programming keywords and the English control list.

Both come from ``tokprobe.vocab.keywords`` (shared with the vocabulary analysis): the keyword
lists per language (``tokprobe/data/keywords/<language>.json``, each with its source) and the
fixed English control list for NLP (``tokprobe/data/english_control_words.txt``, source noted in
its header).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Mapping, Sequence

from ..errors import InputError


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
    keywords: Mapping[str, Sequence[str]] | str | os.PathLike | None = None,
    languages: Sequence[str] | str | None = None,
) -> tuple[dict[str, list[str]], str]:
    """Keyword lists by language, and where they came from.

    ``keywords``: None (the shipped lists), a path to a keyword file (added to the shipped
    lists, as ``tokprobe.vocab.keywords.load_keywords`` does), or a mapping language -> keywords
    (used as given). ``languages`` keeps only those languages (aliases such as ``C++`` accepted).
    """
    from ..vocab import keywords as vk

    langs = _languages(languages)
    if keywords is None or isinstance(keywords, (str, os.PathLike)):
        lists = vk.load_keywords(keywords, languages=langs)
        source = "shipped keyword lists" if keywords is None else f"shipped keyword lists + {keywords}"
    elif isinstance(keywords, Mapping):
        lists = vk.parse_keyword_mapping(dict(keywords), "keywords")
        source = "caller-supplied mapping"
        if langs is not None:
            from ..languages import normalize_language

            wanted = [normalize_language(x) for x in langs]
            missing = [x for x in wanted if x not in lists]
            if missing:
                raise InputError(f"no keyword list for {', '.join(missing)}")
            lists = {x: lists[x] for x in wanted}
    else:
        raise InputError("keywords must be a mapping language -> list of keywords, a path, or None")
    out = {str(lang): [str(k) for k in kws] for lang, kws in lists.items() if kws}
    if not out:
        raise InputError("no keywords to measure PKP with")
    return out, source


def load_control_words(control: Sequence[str] | str | os.PathLike | None = None) -> tuple[list[str], str]:
    """The English control words for NLP and a description of their source."""
    from ..vocab import keywords as vk

    if control is None:
        name = getattr(getattr(vk, "CONTROL_WORDS_FILE", None), "name", "english_control_words.txt")
        return vk.load_control_words(), f"tokprobe/data/{name}"
    if isinstance(control, (str, os.PathLike)):
        return vk.load_control_words(control), str(control)
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
