"""Classes of source bytes, and of the tokens spanning them, derived from the SOURCE TEXT with pygments.

Every byte of a corpus file gets the class of the pygments lexeme it belongs to; a model
token (a byte span of the file) takes the class of its first non-whitespace byte, and a
token made only of whitespace is ``whitespace``. This is independent of the tokenizer: two
models with different vocabularies see the same class for every byte.

Mapping of pygments token types (first match wins):

==============  ===========================================================================
class           pygments types
==============  ===========================================================================
keyword         ``Keyword.*`` (incl. ``Keyword.Constant``/``Type``/``Namespace``), ``Operator.Word``
                (``and``/``not``/``in``/``is``... are keywords of their languages), and the
                directive of a ``Comment.Preproc`` lexeme (``#include``, ``#define``)
identifier      ``Name.*``
operator        ``Operator``, ``Punctuation`` (operator/punctuation)
whitespace      ``Text.Whitespace``, and any token whose bytes are all whitespace
                (whitespace/indentation)
literal         ``Literal.*`` (strings incl. docstrings, numbers), ``Comment.PreprocFile``
comment         ``Comment.*`` (other than the preprocessor cases above)
other           everything else (plain ``Text``, ``Error``, ``Generic``, operands of a
                preprocessor directive, special tokens with no bytes)
==============  ===========================================================================
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Keyword, Literal, Name, Operator, Punctuation, Text
from pygments.util import ClassNotFound

SOURCE_CLASSES: tuple[str, ...] = ("keyword", "identifier", "operator", "whitespace", "literal", "comment", "other")
KEYWORD, IDENTIFIER, OPERATOR, WHITESPACE, LITERAL, COMMENT, OTHER = range(len(SOURCE_CLASSES))

# pygments lexer names for tokprobe language names that pygments spells differently.
_LEXER_ALIASES = {
    "c++": "cpp",
    "cpp": "cpp",
    "c#": "csharp",
    "csharp": "csharp",
    "react": "jsx",
    "react/jsx": "jsx",
    "jsx": "jsx",
    "tsx": "tsx",
    "shell": "bash",
    "objective-c": "objective-c",
}

_WS_BYTES = np.zeros(256, dtype=bool)
_WS_BYTES[[0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C]] = True

_PREPROC_DIRECTIVE = re.compile(r"\s*#?\s*(?:[A-Za-z_]\w*)?")


@lru_cache(maxsize=64)
def _lexer(language: str | None, suffix: str, name: str) -> Lexer:
    opts = dict(stripnl=False, stripall=False, ensurenl=False)
    if name:
        try:
            return get_lexer_for_filename(name, **opts)
        except ClassNotFound:
            pass
    if language:
        key = language.lower()
        for alias in (_LEXER_ALIASES.get(key), key):
            if alias:
                try:
                    return get_lexer_by_name(alias, **opts)
                except ClassNotFound:
                    pass
    return TextLexer(**opts)


def lexer_for(path: str | Path | None = None, language: str | None = None) -> Lexer:
    """The pygments lexer used for a file: by file name first, then by language name; plain text else."""
    name = Path(path).name if path else ""
    return _lexer(language, Path(name).suffix.lower(), name)


@cache
def _class_of(ttype: Any) -> int:  # a pygments token type
    if ttype in Keyword or ttype in Operator.Word:
        return KEYWORD
    if ttype in Comment.PreprocFile:
        return LITERAL
    if ttype in Comment:
        return COMMENT
    if ttype in Name:
        return IDENTIFIER
    if ttype in Operator or ttype in Punctuation:
        return OPERATOR
    if ttype in Literal:
        return LITERAL
    if ttype in Text.Whitespace:
        return WHITESPACE
    return OTHER


def _utf8_lengths(text: str) -> np.ndarray:
    """UTF-8 byte length of every character (lone surrogates from surrogateescape count 1)."""
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    lens = np.ones(cps.shape, dtype=np.int64)
    lens[cps >= 0x80] = 2
    lens[cps >= 0x800] = 3
    lens[cps >= 0x10000] = 4
    lens[(cps >= 0xDC80) & (cps <= 0xDCFF)] = 1  # surrogateescape'd raw bytes
    return lens


def byte_classes(text: str, path: str | Path | None = None, language: str | None = None) -> np.ndarray:
    """Class id (index into :data:`SOURCE_CLASSES`) of every UTF-8 byte of ``text``."""
    n_chars = len(text)
    char_cls = np.full(n_chars, OTHER, dtype=np.uint8)
    lexer = lexer_for(path, language)
    for start, ttype, value in lexer.get_tokens_unprocessed(text):
        if not value:
            continue
        end = start + len(value)
        if ttype in Comment.Preproc and ttype not in Comment.PreprocFile:
            # '#include <x.h>' / '#define X 1': the directive is a keyword, its operands are not.
            m = _PREPROC_DIRECTIVE.match(value)
            cut = start + (m.end() if m else 0)
            char_cls[start:cut] = KEYWORD
            char_cls[cut:end] = OTHER
        else:
            char_cls[start:end] = _class_of(ttype)
    lens = _utf8_lengths(text)
    if np.all(lens == 1):
        return char_cls
    return np.repeat(char_cls, lens)


def whitespace_mask(data: bytes) -> np.ndarray:
    """True for each ASCII whitespace byte of ``data``."""
    return _WS_BYTES[np.frombuffer(data, dtype=np.uint8)]


def span_classes(byte_cls: np.ndarray, is_space: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Class of each byte span ``[starts[i], ends[i])``: that of its first non-whitespace byte.

    All-whitespace spans are ``whitespace``; empty spans (special tokens) are ``other``.
    """
    n = len(byte_cls)
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    # next_nonws[i] = smallest j >= i with a non-whitespace byte (n when none)
    idx = np.where(~is_space, np.arange(n, dtype=np.int64), n)
    next_nonws = np.minimum.accumulate(idx[::-1])[::-1] if n else idx
    next_nonws = np.append(next_nonws, n)
    first = next_nonws[np.clip(starts, 0, n)]
    out = np.full(len(starts), WHITESPACE, dtype=np.uint8)
    has = first < ends
    out[has] = byte_cls[first[has]]
    out[ends <= starts] = OTHER
    return out


def class_names(ids: np.ndarray) -> np.ndarray:
    """Map class ids to their names (object array)."""
    names = np.array(SOURCE_CLASSES, dtype=object)
    return names[np.asarray(ids, dtype=np.int64)]
