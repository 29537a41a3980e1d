"""Keyword and operator lists per language, the English control words and the English lexicon.

Shipped data: ``tokprobe/data/keywords/<language>.json`` — one file per language with its
``source`` (the language reference it was taken from), ``url``, ``notes``, ``keywords`` and
``operators`` (operators and punctuation). ``load_keywords()`` returns {language: [keyword, ...]}.

A user keyword file (JSON, or TOML on Python >= 3.11) is a mapping language -> list of keywords::

    {"python": ["def", "lambda"], "C++": ["co_await"]}

A value may also be an object ``{"keywords": [...], "source": "..."}``; keys starting with ``_``
are ignored (use them for comments). Language names are canonicalised (``C++`` -> ``cpp``);
unknown names are an error. With ``extend=True`` (default) the user's lists are added to the
shipped ones; with ``extend=False`` they replace them (only the user's languages remain).
"""

from __future__ import annotations

import gzip
import json
import os
import re
from functools import lru_cache
from pathlib import Path

from ..errors import EmptyInputError, FileFormatError, InputError
from ..languages import LANGUAGES, normalize_language

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
KEYWORD_DIR = DATA_DIR / "keywords"
CONTROL_WORDS_FILE = DATA_DIR / "english_control_words.txt"
LEXICON_FILE = DATA_DIR / "english_lexicon.txt.gz"


@lru_cache(maxsize=None)
def _shipped(language: str) -> dict:
    path = KEYWORD_DIR / f"{language}.json"
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def shipped_languages() -> list[str]:
    """Languages with a shipped keyword file, in :data:`LANGUAGES` order."""
    have = {p.stem for p in KEYWORD_DIR.glob("*.json")}
    return [l for l in LANGUAGES if l in have] + sorted(have - set(LANGUAGES))


def keyword_sources() -> dict[str, dict]:
    """{language: {name, source, url, notes, n_keywords, n_operators}} of the shipped lists."""
    out = {}
    for lang in shipped_languages():
        d = _shipped(lang)
        out[lang] = {
            "name": d.get("name", lang),
            "source": d.get("source", ""),
            "url": d.get("url", ""),
            "notes": d.get("notes", ""),
            "n_keywords": len(d.get("keywords", [])),
            "n_operators": len(d.get("operators", [])),
        }
    return out


def _check_list(values: object, where: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise FileFormatError(f"{where}: expected a list of strings")
    out: list[str] = []
    for v in values:
        if v == "" or v != v.strip() or "\n" in v:
            raise FileFormatError(f"{where}: keyword {v!r} is empty or has surrounding whitespace")
        if v not in out:
            out.append(v)
    return out


def _read_user_file(path: str | os.PathLike) -> dict:
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"keyword file not found: {p}")
    try:
        raw = p.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"keyword file {p}: unreadable ({exc.__class__.__name__})") from None
    if p.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            raise FileFormatError(f"keyword file {p}: TOML needs Python >= 3.11; use JSON") from None
        try:
            data = tomllib.loads(raw)
        except tomllib.TOMLDecodeError as exc:
            raise FileFormatError(f"keyword file {p}: invalid TOML ({exc})") from None
    else:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise FileFormatError(f"keyword file {p}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise FileFormatError(f"keyword file {p}: expected a mapping language -> list of keywords")
    return data


def parse_keyword_mapping(data: dict, where: str = "keywords", key: str = "keywords") -> dict[str, list[str]]:
    """Validate a mapping language -> list (or {key: list}) and canonicalise the language names."""
    out: dict[str, list[str]] = {}
    for lang, value in data.items():
        if not isinstance(lang, str):
            raise FileFormatError(f"{where}: language names must be strings")
        if lang.startswith("_"):
            continue
        if isinstance(value, dict):
            value = value.get(key)
        canon = normalize_language(lang)
        out.setdefault(canon, [])
        for kw in _check_list(value, f"{where}: {lang}"):
            if kw not in out[canon]:
                out[canon].append(kw)
    return out


def _merge(base: dict[str, list[str]], extra: dict[str, list[str]], extend: bool) -> dict[str, list[str]]:
    if not extend:
        return {l: list(v) for l, v in extra.items()}
    out = {l: list(v) for l, v in base.items()}
    for lang, kws in extra.items():
        cur = out.setdefault(lang, [])
        cur.extend(k for k in kws if k not in cur)
    return out


def _order(d: dict[str, list[str]]) -> dict[str, list[str]]:
    return {l: d[l] for l in [x for x in LANGUAGES if x in d] + [x for x in d if x not in LANGUAGES]}


def load_keywords(
    path: str | os.PathLike | None = None,
    extend: bool = True,
    languages: "list[str] | tuple[str, ...] | None" = None,
) -> dict[str, list[str]]:
    """{language: [keyword, ...]}: the shipped lists, extended or replaced by the user's file at ``path``.

    ``languages``: keep only these (canonicalised; unknown names raise InputError).
    """
    shipped = {l: list(_shipped(l)["keywords"]) for l in shipped_languages()}
    result = shipped if path is None else _merge(shipped, parse_keyword_mapping(_read_user_file(path), str(path)), extend)
    if languages is not None:
        wanted = [normalize_language(l) for l in languages]
        missing = [l for l in wanted if l not in result]
        if missing:
            raise InputError(f"no keyword list for {', '.join(missing)}")
        result = {l: result[l] for l in wanted}
    if not any(result.values()):
        raise InputError("the keyword lists are empty")
    return _order(result)


def load_operators(
    path: str | os.PathLike | None = None,
    extend: bool = True,
    languages: "list[str] | tuple[str, ...] | None" = None,
) -> dict[str, list[str]]:
    """{language: [operator or punctuator, ...]} (shipped; a user file in the keyword format may extend it)."""
    shipped = {l: list(_shipped(l).get("operators", [])) for l in shipped_languages()}
    result = shipped
    if path is not None:
        result = _merge(shipped, parse_keyword_mapping(_read_user_file(path), str(path), key="operators"), extend)
    if languages is not None:
        result = {l: result.get(l, []) for l in (normalize_language(x) for x in languages)}
    return _order(result)


def keyword_languages(keywords: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    """Inverted index {keyword: (languages...)} in language order (keys are the exact spellings)."""
    inv: dict[str, list[str]] = {}
    for lang, kws in keywords.items():
        for kw in kws:
            langs = inv.setdefault(kw, [])
            if lang not in langs:
                langs.append(lang)
    return {k: tuple(v) for k, v in inv.items()}


def load_control_words(path: str | os.PathLike | None = None) -> list[str]:
    """The fixed English control word list for NLP (one word a line, '#' comments)."""
    p = Path(path) if path is not None else CONTROL_WORDS_FILE
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"control word file {p}: unreadable ({exc.__class__.__name__})") from None
    words = [w.strip() for w in lines if w.strip() and not w.lstrip().startswith("#")]
    if not words:
        raise EmptyInputError(f"control word file {p} has no words")
    return list(dict.fromkeys(words))


@lru_cache(maxsize=1)
def english_lexicon() -> frozenset[str]:
    """Lower-case ASCII English words (SCOWL size-50 'american-english', see data/LICENSE-SCOWL.txt).

    Used by the token classifier to tell natural-language words from identifier fragments.
    """
    with gzip.open(LEXICON_FILE, "rt", encoding="utf-8") as f:
        return frozenset(w for w in f.read().split() if re.fullmatch(r"[a-z]+", w))
