"""The token sets behind PKP, KAP, STP, NLP and indentation probability, per vocabulary.

Every set is a set of token **ids** (never decoded texts: two tokens with the same text are two
entries, and nothing collapses). The rules, recorded in every result (``TokenSets.rules``):

* **Decoded text** of a token = the bytes it contributes to text (``Vocab.token_bytes``, where
  the SentencePiece ``▁`` / byte-level ``Ġ`` markers are already spaces), decoded as UTF-8.
  Only tokens that llama.cpp renders as text take part in STP, NLP and indentation: kinds
  ``normal``, ``user_defined`` and ``byte``, minus the placeholders that the shared token
  classifier (``tokprobe.lexicon.token_classes``) calls ``unused`` (``<unused12>``). User-defined tags
  such as Gemma's ``<h1>``, ``<strong>`` or ``<start_of_image>`` render as text and so count in
  STP (they start with ``<``), although the shared classifier files them under ``control`` for
  vocabulary composition. Control tokens proper (``<bos>``, ``<start_of_turn>``: kinds
  control/unknown, not rendered) are in no set; their mass is the summary's ``control_p``.
* **Keyword tokens (PKP)**: for every keyword of every language and every *form* in
  ``keyword_forms`` (default ``bare`` = ``def`` and ``space`` = `` def``; also available:
  ``newline`` = ``\\ndef``), every normal or user-defined token (not unused) whose decoded
  text is exactly that form; a keyword containing whitespace (PHP's ``yield from``)
  never matches.
  Token ids are de-duplicated across languages and forms: a token counts once in PKP, and once
  in each language that has it. Which form each id matched is reported
  (``ColdStartResult.keyword_probs``).
* **KAP** = PKP / number of distinct keywords (the union over languages; a keyword that is not
  a single token in any chosen form adds 0 to the sum and 1 to the denominator). Per
  language: PKP of that language's ids / its number of distinct keywords.
* **STP**: renderable tokens whose decoded text, after stripping leading whitespace (so the
  space marker does not hide ``Ġ#``), starts with an ASCII punctuation character
  (``string.punctuation`` except ``_``, which starts identifiers such as ``__init__``) or a
  Unicode symbol (category S*, except U+FFFD, which marks an
  incomplete UTF-8 byte sequence). Whitespace-only tokens are excluded. The set size is
  reported.
* **NLP**: tokens of a shipped control list of common English words, in the same forms as the
  keywords, each word as listed and (``nlp_capitalized``, default on) capitalised: at the start
  of a document English text begins with ``The``, not ``the``. Tokens that are also keyword
  tokens are removed from the NLP set (so PKP and NLP
  never count the same token; the number removed is reported).
* **Indentation**: renderable tokens whose decoded text is non-empty and only spaces, tabs,
  newlines (``\\t\\n\\v\\f\\r`` and space).
"""

from __future__ import annotations

import string
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..lexicon.forms import KEYWORD_FORMS, parse_forms
from ..lexicon.kinds import kind_ids, kind_names
from ..lexicon.token_classes import TOKEN_CLASSES, class_map
from .words import digest_words

DEFAULT_KEYWORD_FORMS = ("bare", "space")
RENDERED_KINDS = ("normal", "user_defined", "byte")
_WHITESPACE = frozenset(" \t\n\v\f\r")
_ASCII_PUNCT = frozenset(string.punctuation) - {"_"}  # "_" starts identifiers (_x, __init__)

STP_RULE = (
    "decoded text of a normal/user_defined/byte token that the shared classifier does not call unused, "
    "leading whitespace stripped, non-empty, "
    "first character in string.punctuation except '_', or of Unicode category S* (not U+FFFD)"
)
INDENT_RULE = (
    "decoded text of a rendered (normal/user_defined/byte, not unused) token is non-empty and only ' \\t\\n\\v\\f\\r'"
)
NLP_RULE = "control-list words (as listed{cap}) in the keyword forms, minus tokens that are keyword tokens"
KEYWORD_RULE = (
    "normal/user_defined tokens (not unused) whose decoded text equals a keyword form; "
    "multi-word keywords never match; ids de-duplicated across languages"
)


def is_stp_text(text: str) -> bool:
    """True when ``text`` (a token's decoded text) starts a structural/special token (STP rule)."""
    s = text.lstrip()
    if not s:
        return False
    c = s[0]
    if c in _ASCII_PUNCT:
        return True
    return c != "\ufffd" and unicodedata.category(c).startswith("S")


def is_indent_text(text: str) -> bool:
    """True when ``text`` is non-empty and only whitespace (the indentation rule)."""
    return bool(text) and all(c in _WHITESPACE for c in text)


def _kind_array(vocab: Any) -> np.ndarray:
    return np.asarray(getattr(vocab, "kind", np.zeros(vocab.n_vocab, np.uint8)))


def rendered_mask(vocab: Any) -> np.ndarray:
    """Bool[V]: tokens that render as text (kinds normal, user_defined, byte)."""
    return np.isin(_kind_array(vocab), kind_ids(vocab, RENDERED_KINDS))


def decoded_texts(vocab: Any) -> list[str]:
    """The decoded text of every token (invalid UTF-8 as U+FFFD)."""
    return [b.decode("utf-8", errors="replace") for b in vocab.token_bytes]


@dataclass
class TokenSets:
    """The id sets of one vocabulary under one set of rules (see the module docstring)."""

    n_vocab: int
    vocab_digest: str
    texts: list[str]
    token_bytes: list[bytes]
    pieces: list[str]
    rendered: np.ndarray  # bool[V]
    keyword_table: pd.DataFrame  # language, keyword, form, form_text, token_id (one row per match; -1 none)
    keyword_ids: np.ndarray  # int32 unique, sorted
    n_keywords: int  # distinct keyword strings (union over languages)
    language_ids: dict[str, np.ndarray]
    language_n_keywords: dict[str, int]
    stp_mask: np.ndarray
    nlp_ids: np.ndarray
    n_nlp_words: int
    nlp_removed: int
    indent_mask: np.ndarray
    control_mask: np.ndarray
    kind: np.ndarray  # object[V]: GGUF token kind names (normal, control, byte, user_defined, ...)
    keyword_forms: tuple[str, ...]
    keywords: dict[str, list[str]]
    token_class: np.ndarray  # object[V] class names from tokprobe.lexicon.token_classes
    class_names: tuple[str, ...]
    class_map: np.ndarray  # int32[V] for core.class_mass
    rules: dict[str, Any] = field(default_factory=dict)
    _cells: np.ndarray | None = None

    @property
    def stp_ids(self) -> np.ndarray:
        return np.flatnonzero(self.stp_mask).astype(np.int32)

    @property
    def indent_ids(self) -> np.ndarray:
        return np.flatnonzero(self.indent_mask).astype(np.int32)

    # The four sets overlap only as far as the rules allow (keyword and STP are disjoint since a
    # keyword starts with a letter or '_'... except keywords such as '#include' or '@interface';
    # NLP excludes keyword ids). One core.class_mass call over the 2**4 "cells" of membership
    # gives all four masses in one pass over the row.
    CELL_BITS = {"keyword": 1, "stp": 2, "nlp": 4, "indent": 8}

    def cell_map(self) -> np.ndarray:
        if self._cells is None:
            cells = np.zeros(self.n_vocab, dtype=np.int32)
            cells[self.keyword_ids] |= 1
            cells[self.stp_mask] |= 2
            cells[self.nlp_ids] |= 4
            cells[self.indent_mask] |= 8
            cells[cells == 0] = -1
            self._cells = np.ascontiguousarray(cells)
        return self._cells

    def sizes(self) -> dict[str, int]:
        return {
            "n_keywords": int(self.n_keywords),
            "n_keyword_tokens": int(self.keyword_ids.size),
            "n_stp_tokens": int(self.stp_mask.sum()),
            "n_nlp_words": int(self.n_nlp_words),
            "n_nlp_tokens": int(self.nlp_ids.size),
            "n_nlp_removed_as_keyword": int(self.nlp_removed),
            "n_indent_tokens": int(self.indent_mask.sum()),
        }

    def display(self, tid: int) -> str:
        """Decoded text, or the raw piece for a token that renders as nothing (control tokens)."""
        t = self.texts[int(tid)]
        return t if t else str(self.pieces[int(tid)])

    def class_of(self, ids: Iterable[int]) -> list[str]:
        """Shared token class (tokprobe.lexicon.TOKEN_CLASSES) of each id."""
        return [str(self.token_class[int(i)]) for i in ids]


def _bytes_index(vocab: Any, rendered: np.ndarray) -> dict[bytes, list[int]]:
    """token bytes -> ids of the normal and user-defined tokens (not unused) with them."""
    ok = rendered & np.isin(_kind_array(vocab), kind_ids(vocab, ("normal", "user_defined")))
    index: dict[bytes, list[int]] = {}
    for i, b in enumerate(vocab.token_bytes):
        if b and ok[i]:
            index.setdefault(bytes(b), []).append(i)
    return index


def _form_rows(
    index: Mapping[bytes, list[int]], words: Mapping[str, Sequence[str]], forms: Sequence[str]
) -> pd.DataFrame:
    rows: list[tuple[str, str, str, str, int]] = []
    for lang, kws in words.items():
        for kw in dict.fromkeys(kws):  # keep order, drop duplicates within a language
            multiword = any(c.isspace() for c in kw)  # PHP's 'yield from' is never one token
            for form in forms:
                text = KEYWORD_FORMS[form] + kw
                ids = [] if multiword else index.get(text.encode("utf-8"), [])
                if ids:
                    rows.extend((lang, kw, form, text, int(t)) for t in ids)
                else:
                    rows.append((lang, kw, form, text, -1))
    return pd.DataFrame(rows, columns=["language", "keyword", "form", "form_text", "token_id"])


def check_forms(forms: Iterable[str] | str | None) -> tuple[str, ...]:
    """The keyword forms to count (default bare and space); InputError for an unknown one."""
    return parse_forms(forms, DEFAULT_KEYWORD_FORMS)


def _unique_ids(table: pd.DataFrame) -> np.ndarray:
    return np.unique(table.token_id.to_numpy(np.int64)).astype(np.int32)


@dataclass
class _KeywordSets:
    table: pd.DataFrame
    ids: np.ndarray
    language_ids: dict[str, np.ndarray]
    language_n: dict[str, int]
    n_keywords: int


def _keyword_sets(
    index: Mapping[bytes, list[int]], keywords: dict[str, list[str]], forms: Sequence[str]
) -> _KeywordSets:
    table = _form_rows(index, keywords, forms)
    found = table[table.token_id >= 0]
    return _KeywordSets(
        table=table,
        ids=_unique_ids(found),
        language_ids={lang: _unique_ids(found[found.language == lang]) for lang in keywords},
        language_n={lang: len(dict.fromkeys(kws)) for lang, kws in keywords.items()},
        n_keywords=len({kw for kws in keywords.values() for kw in kws}),
    )


def _nlp_ids(
    index: Mapping[bytes, list[int]], control: list[str], forms: Sequence[str], capitalized: bool,
    keyword_ids: np.ndarray,
) -> tuple[np.ndarray, int]:
    """NLP token ids (keyword tokens removed) and how many were removed as keyword tokens."""
    spellings = list(control)
    if capitalized:
        spellings += [w[:1].upper() + w[1:] for w in control if w[:1].upper() != w[:1]]
    table = _form_rows(index, {"english": list(dict.fromkeys(spellings))}, forms)
    nlp_all = _unique_ids(table[table.token_id >= 0])
    nlp_ids = np.setdiff1d(nlp_all, keyword_ids).astype(np.int32)
    return nlp_ids, int(nlp_all.size - nlp_ids.size)


def _text_masks(texts: list[str], rendered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(STP mask, indentation mask) over the rendered tokens."""
    stp = np.zeros(len(texts), dtype=bool)
    indent = np.zeros(len(texts), dtype=bool)
    for i, t in enumerate(texts):
        if rendered[i] and t:
            if is_stp_text(t):
                stp[i] = True
            elif is_indent_text(t):
                indent[i] = True
    return stp, indent


def _rules(
    forms: tuple[str, ...], capitalized: bool, keywords: dict[str, list[str]], control: list[str]
) -> dict[str, Any]:
    return {
        "keyword_forms": list(forms),
        "keyword_tokens": KEYWORD_RULE,
        "kap_denominator": "distinct keywords (union over languages; per language for per-language KAP)",
        "stp": STP_RULE,
        "nlp": NLP_RULE.format(cap=" and capitalised" if capitalized else ""),
        "nlp_capitalized": capitalized,
        "indentation": INDENT_RULE,
        "rendered_kinds": list(RENDERED_KINDS),
        "keywords_digest": digest_words(keywords),
        "control_words_digest": digest_words({"en": control}),
    }


def _build(
    vocab: Any, digest: str, keywords: dict[str, list[str]], control: list[str], forms: tuple[str, ...],
    capitalized: bool,
) -> TokenSets:
    n = int(vocab.n_vocab)
    token_class, class_names, cmap = _vocab_classes(vocab, keywords)
    # What llama.cpp renders as text (normal, user-defined, byte tokens), minus the placeholders the
    # shared classifier calls unused (<unused12>). User-defined tags such as Gemma's <h1> or
    # <start_of_image> DO render as text, so they take part in STP even though the shared classifier
    # files them under 'control' for vocabulary composition.
    rendered = rendered_mask(vocab) & (token_class != "unused")
    kind = _kind_array(vocab)
    names = kind_names(vocab)
    control_mask = np.isin(kind, kind_ids(vocab, ("control", "unknown")))
    texts = decoded_texts(vocab)
    stp, indent = _text_masks(texts, rendered)
    index = _bytes_index(vocab, rendered)
    kw = _keyword_sets(index, keywords, forms)
    nlp_ids, nlp_removed = _nlp_ids(index, control, forms, capitalized, kw.ids)
    pieces = vocab.pieces if getattr(vocab, "pieces", None) is not None else [""] * n
    return TokenSets(
        n_vocab=n,
        vocab_digest=digest,
        texts=texts,
        token_bytes=list(vocab.token_bytes),
        pieces=[str(p) for p in pieces],
        rendered=rendered,
        keyword_table=kw.table,
        keyword_ids=kw.ids,
        n_keywords=kw.n_keywords,
        language_ids=kw.language_ids,
        language_n_keywords=kw.language_n,
        stp_mask=stp,
        nlp_ids=nlp_ids,
        n_nlp_words=len(control),
        nlp_removed=nlp_removed,
        indent_mask=indent,
        control_mask=np.asarray(control_mask, dtype=bool),
        kind=np.array([names[k] if k < len(names) else "unknown" for k in kind.tolist()], dtype=object),
        keyword_forms=forms,
        keywords=keywords,
        token_class=token_class,
        class_names=class_names,
        class_map=cmap,
        rules=_rules(forms, capitalized, keywords, control),
    )


_CACHE: dict[tuple[Any, ...], TokenSets] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 4


def build_token_sets(
    vocab: Any,
    keywords: Mapping[str, Sequence[str]],
    control_words: Sequence[str],
    *,
    keyword_forms: Iterable[str] | str | None = None,
    nlp_capitalized: bool = True,
) -> TokenSets:
    """Build (or fetch from a small per-process cache keyed by the vocabulary digest and the
    word lists) the token sets of ``vocab``."""
    forms = check_forms(keyword_forms)
    kw_lists = {str(k): [str(w) for w in v] for k, v in keywords.items()}
    if not any(kw_lists.values()):
        raise InputError("no keywords to measure PKP with")
    control = [str(w) for w in dict.fromkeys(control_words) if str(w).strip()]
    digest = str(getattr(vocab, "digest", "")) or f"id{id(vocab)}"
    capitalized = bool(nlp_capitalized)
    key = (digest, int(vocab.n_vocab), forms, digest_words(kw_lists), digest_words({"en": control}), capitalized)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    sets = _build(vocab, digest, kw_lists, control, forms, capitalized)
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = sets
    return sets


def _vocab_classes(vocab: Any, keywords: Mapping[str, Sequence[str]]) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Token classes from the shared lexicon (defined once, shared by all analyses)."""
    names = tuple(TOKEN_CLASSES)
    cmap = np.ascontiguousarray(np.asarray(class_map(vocab, {k: list(v) for k, v in keywords.items()}), dtype=np.int32))
    token_class = np.array([names[c] if c >= 0 else "none" for c in cmap], dtype=object)
    return token_class, names, cmap
