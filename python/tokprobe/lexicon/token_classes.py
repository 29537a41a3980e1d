"""Token classes: every vocabulary entry, keyed by token id, gets exactly one class.

Rules (docs/method.md), applied to the bytes a token contributes to text (``vocab.token_bytes``;
SentencePiece ``▁`` and byte-level ``Ġ`` both become a space) — first match wins:

1. By GGUF token type: ``unused`` entries -> **unused**; ``control``/``unknown`` -> **control**;
   ``byte`` (SentencePiece byte fallback ``<0xNN>``) -> **byte**. Placeholder texts
   (``<unusedN>``, ``[PADN]``, ``<|reserved_special_token_N|>``, ``<|placeholderN|>``, ``<extra_id_N>``)
   are **unused** whatever their type; ``user_defined`` entries shaped like ``<...>`` / ``[...]`` are
   **control** (added special tokens).
2. Bytes that are not valid UTF-8 (a piece of a multi-byte character) or empty -> **other**.
3. Only spaces, tabs, newlines (``\\r``, ``\\n``, ``\\f``, ``\\v``) -> **whitespace** (run counts kept).
4. With surrounding whitespace removed ("core"): a keyword of any language -> **keyword**
   (``keyword_languages`` names the languages); ASCII digits -> **digits**; nothing but ASCII
   punctuation/symbols (inner whitespace allowed) -> **operator**.
5. ASCII name shape ``[A-Za-z_][A-Za-z0-9_]*``: an English word (lower case or Capitalised, two
   letters or more, in the shipped SCOWL lexicon) -> **word**, anything else (``snake_case``,
   ``camelCase``, ``ALLCAPS``, digits inside, single letters, fragments such as ``tion``) -> **identifier**.
6. Letters (and combining marks) of any script with at least one non-ASCII letter -> **word**
   (natural language in other scripts).
7. Everything else (mixed punctuation and letters such as ``.get`` or ``('``, emoji, CJK punctuation)
   -> **other**.

``base`` tells the base vocabulary (:func:`tokprobe.lexicon.kinds.base_mask`) from added/special entries.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .english import english_lexicon
from .keywords import keyword_languages, load_keywords
from .kinds import KIND_NAMES, base_mask, file_token_types, token_kinds

TOKEN_CLASSES: tuple[str, ...] = (
    "keyword",
    "identifier",
    "operator",
    "whitespace",
    "digits",
    "word",
    "byte",
    "control",
    "unused",
    "other",
)
CLASS_ID = {c: i for i, c in enumerate(TOKEN_CLASSES)}

WHITESPACE = " \t\r\n\f\v"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LOWER_OR_CAP_RE = re.compile(r"[A-Za-z][a-z]+\Z")
_UNUSED_RE = re.compile(
    r"(?:<unused\d+>|\[PAD\d+\]|<\|reserved_special_token_\d+\|>|<\|placeholder\d+\|>|<extra_id_\d+>|<\|extra_\d+\|>)\Z"
)
_SPECIAL_RE = re.compile(r"(?:<[^\s<>]{1,64}>|\[[A-Za-z_][A-Za-z0-9_]{0,30}\])\Z")
_ASCII_PUNCT_RE = re.compile(r"[!-/:-@\[-`{-~\s]+\Z")
_C = CLASS_ID
_LEAD = {32: "space", 9: "tab", 10: "newline", 13: "newline"}
_CACHE_MAX = 8
_CACHE: OrderedDict[tuple[str, int, int], pd.DataFrame] = OrderedDict()

TextClass = tuple[int, str, bool]  # (class id, keyword languages, valid utf-8)


def clear_cache() -> None:
    """Forget the classified vocabularies (benchmarks time a cold classification)."""
    _CACHE.clear()


def _text_class(b: bytes, kw_index: dict[str, tuple[str, ...]], lexicon: frozenset[str]) -> TextClass:
    """(class id, keyword languages, valid utf-8) from the token bytes alone."""
    if not b:
        return _C["other"], "", True
    try:
        t = b.decode("utf-8")
    except UnicodeDecodeError:
        return _C["other"], "", False
    core = t.strip(WHITESPACE)
    if not core:
        return _C["whitespace"], "", True
    langs = kw_index.get(core)
    if langs:
        return _C["keyword"], ",".join(langs), True
    if core.isascii():
        if _NAME_RE.match(core):
            if len(core) >= 2 and _LOWER_OR_CAP_RE.match(core) and core.lower() in lexicon:
                return _C["word"], "", True
            return _C["identifier"], "", True
        if core.isdigit():
            return _C["digits"], "", True
        if _ASCII_PUNCT_RE.match(core):
            return _C["operator"], "", True
        return _C["other"], "", True
    if core.isalpha() or (
        unicodedata.category(core[0])[0] == "L" and all(unicodedata.category(c)[0] in "LM" for c in core)
    ):
        return _C["word"], "", True
    return _C["other"], "", True


def _cache_key(vocab: Any, keywords: dict[str, list[str]]) -> tuple[str, int, int] | None:
    digest = getattr(vocab, "digest", None)
    if not isinstance(digest, str) or not digest:
        return None
    kw = tuple((lang, tuple(v)) for lang, v in keywords.items())
    return (digest, int(getattr(vocab, "n_vocab", 0)), hash(kw))


def _class_codes(
    kinds: list[str], pieces: list[str], token_bytes: list[bytes], keywords: dict[str, list[str]]
) -> tuple[npt.NDArray[np.int8], dict[int, str], list[int]]:
    """Class id of every token, keyword languages by id, ids whose bytes are not valid UTF-8."""
    n = len(token_bytes)
    kw_index = keyword_languages(keywords)
    lexicon = english_lexicon()
    codes = np.empty(n, dtype=np.int8)
    kwl: dict[int, str] = {}
    bad_utf8: list[int] = []
    memo: dict[bytes, TextClass] = {}
    unused_c, control_c, byte_c = _C["unused"], _C["control"], _C["byte"]
    for i in range(n):
        k = kinds[i]
        if k == "normal" or k == "user_defined":
            piece = pieces[i]
            if piece[:1] in ("<", "[") and _UNUSED_RE.match(piece):
                codes[i] = unused_c
                continue
            if k == "user_defined" and _SPECIAL_RE.match(piece):
                codes[i] = control_c
                continue
            b = token_bytes[i]
            r = memo.get(b)
            if r is None:
                r = memo[b] = _text_class(b, kw_index, lexicon)
            codes[i] = r[0]
            if r[1]:
                kwl[i] = r[1]
            if not r[2]:
                bad_utf8.append(i)
        elif k == "byte":
            codes[i] = byte_c
        elif k == "unused":
            codes[i] = unused_c
        else:  # control, unknown
            codes[i] = unused_c if _UNUSED_RE.match(pieces[i]) else control_c
    return codes, kwl, bad_utf8


def _whitespace_counts(
    codes: npt.NDArray[np.int8], token_bytes: list[bytes]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spaces, tabs, newlines) of every whitespace token (0 elsewhere); CRLF counts one newline."""
    n = len(token_bytes)
    spaces = np.zeros(n, dtype=np.int64)
    tabs = np.zeros(n, dtype=np.int64)
    newlines = np.zeros(n, dtype=np.int64)
    for i in np.nonzero(codes == _C["whitespace"])[0].tolist():
        b = token_bytes[i]
        spaces[i] = b.count(b" ")
        tabs[i] = b.count(b"\t")
        newlines[i] = b.count(b"\n") + b.count(b"\r") - b.count(b"\r\n")
    return spaces, tabs, newlines


def _class_frame(vocab: Any, keywords: dict[str, list[str]]) -> pd.DataFrame:
    token_bytes = vocab.token_bytes
    n = len(token_bytes)
    pieces = getattr(vocab, "pieces", None)
    if pieces is None or len(pieces) != n:
        pieces = [b.decode("utf-8", "backslashreplace") for b in token_bytes]
    from_file = file_token_types(vocab)
    kinds = from_file if from_file is not None else token_kinds(vocab)
    base = base_mask(vocab, kinds if from_file is not None else None)
    codes, kwl, bad_utf8 = _class_codes(kinds, pieces, token_bytes, keywords)
    kw_col = np.full(n, "", dtype=object)
    if kwl:
        kw_col[np.fromiter(kwl.keys(), dtype=np.int64)] = list(kwl.values())
    utf8 = np.ones(n, dtype=bool)
    utf8[bad_utf8] = False
    spaces, tabs, newlines = _whitespace_counts(codes, token_bytes)
    df = pd.DataFrame(
        {
            "token_id": np.arange(n, dtype=np.int64),
            "piece": pieces,
            "text": [b.decode("utf-8", "backslashreplace") for b in token_bytes],
            "n_bytes": np.fromiter(map(len, token_bytes), dtype=np.int64, count=n),
            "kind": pd.Categorical(kinds, categories=list(KIND_NAMES)),
            "base": base,
            "cls": pd.Categorical.from_codes(codes, categories=pd.Index(list(TOKEN_CLASSES))),
            "keyword_languages": kw_col,
            "lead": [_LEAD.get(b[0], "") if b else "" for b in token_bytes],
            "ws_spaces": spaces,
            "ws_tabs": tabs,
            "ws_newlines": newlines,
            "utf8": utf8,
        }
    )
    df.index = df["token_id"].to_numpy()
    df.index.name = None
    return df


def classify(vocab: Any, keywords: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """One row per token id (the index, also column ``token_id``) with its class and details.

    Columns: token_id, piece (raw GGUF text), text (decoded, invalid UTF-8 shown as ``\\xNN``),
    n_bytes, kind (GGUF token type), base (bool), cls (one of TOKEN_CLASSES), keyword_languages
    ('' or 'python,ruby'), lead ('', 'space', 'tab', 'newline': the first byte when whitespace),
    ws_spaces, ws_tabs, ws_newlines (counts, whitespace tokens only), utf8 (bool).
    Results are cached per (vocabulary digest, keyword lists); a copy is returned.
    """
    if keywords is None:
        keywords = load_keywords()
    key = _cache_key(vocab, keywords)
    if key is not None and key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key].copy()
    df = _class_frame(vocab, keywords)
    if key is None:
        return df
    _CACHE[key] = df
    while len(_CACHE) > _CACHE_MAX:
        _CACHE.popitem(last=False)
    return df.copy()


def class_map(vocab: Any, keywords: dict[str, list[str]] | None = None) -> np.ndarray:
    """int32[n_vocab]: index into TOKEN_CLASSES of every token (for core.TokenHistogram / class_mass)."""
    df = classify(vocab, keywords)
    return df["cls"].cat.codes.to_numpy().astype(np.int32)
