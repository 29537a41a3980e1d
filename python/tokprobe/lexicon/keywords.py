"""Keyword and operator lists per language (shared by every analysis).

Shipped data: ``tokprobe/data/keywords/<language>.json`` — one file per language with its
``source`` (the language reference it was taken from), ``url``, ``notes``, ``keywords`` and
``operators`` (operators and punctuation). ``load_keywords()`` returns {language: [keyword, ...]}.

A user keyword file (JSON or TOML) is a mapping language -> list of keywords::

    {"python": ["def", "lambda"], "C++": ["co_await"]}

A value may also be an object ``{"keywords": [...], "source": "..."}``; keys starting with ``_``
are ignored (use them for comments). Language names are canonicalised (``C++`` -> ``cpp``);
unknown names are an error. With ``extend=True`` (default) the user's lists are added to the
shipped ones; with ``extend=False`` they replace them (only the user's languages remain).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import FileFormatError, InputError
from .languages import LANGUAGES, normalize_language

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
KEYWORD_DIR = DATA_DIR / "keywords"


@cache
def _shipped(language: str) -> dict[str, Any]:
    path = KEYWORD_DIR / f"{language}.json"
    with open(path, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def shipped_languages() -> list[str]:
    """Languages with a shipped keyword file, in :data:`LANGUAGES` order."""
    have = {p.stem for p in KEYWORD_DIR.glob("*.json")}
    return [lang for lang in LANGUAGES if lang in have] + sorted(have - set(LANGUAGES))


def keyword_sources() -> dict[str, dict[str, Any]]:
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


def _read_user_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"keyword file not found: {p}")
    try:
        raw = p.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"keyword file {p}: unreadable ({exc.__class__.__name__})") from None
    if p.suffix.lower() == ".toml":
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


def parse_keyword_mapping(data: dict[str, Any], where: str = "keywords", key: str = "keywords") -> dict[str, list[str]]:
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
        return {lang: list(v) for lang, v in extra.items()}
    out = {lang: list(v) for lang, v in base.items()}
    for lang, kws in extra.items():
        cur = out.setdefault(lang, [])
        cur.extend(k for k in kws if k not in cur)
    return out


def _order(d: dict[str, list[str]]) -> dict[str, list[str]]:
    return {lang: d[lang] for lang in [x for x in LANGUAGES if x in d] + [x for x in d if x not in LANGUAGES]}


def select_languages(lists: dict[str, list[str]], languages: Iterable[str]) -> dict[str, list[str]]:
    """The lists of ``languages`` (names normalised), in that order; a language without a list is an error."""
    wanted = [normalize_language(lang) for lang in languages]
    missing = [lang for lang in wanted if lang not in lists]
    if missing:
        raise InputError(f"no keyword list for {', '.join(missing)}")
    return {lang: lists[lang] for lang in wanted}


def load_keywords(
    path: str | os.PathLike[str] | None = None,
    extend: bool = True,
    languages: list[str] | tuple[str, ...] | None = None,
) -> dict[str, list[str]]:
    """{language: [keyword, ...]}: the shipped lists, extended or replaced by the user's file at ``path``.

    ``languages``: keep only these (canonicalised; unknown names raise InputError).
    """
    shipped = {lang: list(_shipped(lang)["keywords"]) for lang in shipped_languages()}
    result = shipped
    if path is not None:
        result = _merge(shipped, parse_keyword_mapping(_read_user_file(path), str(path)), extend)
    if languages is not None:
        result = select_languages(result, languages)
    if not any(result.values()):
        raise InputError("the keyword lists are empty")
    return _order(result)


def load_operators(
    path: str | os.PathLike[str] | None = None,
    extend: bool = True,
    languages: list[str] | tuple[str, ...] | None = None,
) -> dict[str, list[str]]:
    """{language: [operator or punctuator, ...]} (shipped; a user file in the keyword format may extend it)."""
    shipped = {lang: list(_shipped(lang).get("operators", [])) for lang in shipped_languages()}
    result = shipped
    if path is not None:
        result = _merge(shipped, parse_keyword_mapping(_read_user_file(path), str(path), key="operators"), extend)
    if languages is not None:
        result = {lang: result.get(lang, []) for lang in (normalize_language(x) for x in languages)}
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
