"""Surface forms of a keyword, and how a tokenizer splits a text where it starts a pre-token.

Forms: ``bare`` (``def``), ``space`` (`` def``: byte-level ``Ġdef`` / SentencePiece ``▁def``) and
``newline`` (``\\ndef``: only tokenizers without a pre-tokenizer split ever merge it). The same
forms serve the vocabulary coverage, the cold-start keyword sets and the chained probabilities.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import InputError

#: Form name -> the text put before the keyword.
KEYWORD_FORMS: dict[str, str] = {"bare": "", "space": " ", "newline": "\n"}
FORMS: tuple[str, ...] = tuple(KEYWORD_FORMS)

# Texts after which a tokenizer starts a fresh pre-token ("\x00" last: rarely merged with anything).
ANCHORS: tuple[str, ...] = ("", "\n", ";", "(", "\t", "\x00")


def _unknown_form(form: object) -> InputError:
    return InputError(f"unknown keyword form {form!r}; use {', '.join(FORMS)}")


def form_text(keyword: str, form: str) -> str:
    """The text of ``keyword`` in ``form`` ('def', 'space' -> ' def'); InputError for an unknown form."""
    try:
        return KEYWORD_FORMS[form] + keyword
    except KeyError:
        raise _unknown_form(form) from None


def parse_forms(forms: Iterable[str] | str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """Form names from a list or a 'bare,space' string (lower-cased, duplicates dropped); ``default`` for None."""
    if forms is None:
        return default
    if isinstance(forms, str):
        forms = [f for f in forms.replace(",", " ").split() if f]
    out = tuple(dict.fromkeys(str(f).strip().lower() for f in forms))
    bad = [f for f in out if f not in KEYWORD_FORMS]
    if bad or not out:
        raise _unknown_form(bad[0] if bad else "")
    return out


def _tokenize(vocab: Any, data: bytes) -> list[int]:
    ids = vocab.tokenize(data, add_bos=False, special=False)
    return [int(i) for i in np.asarray(ids).ravel()]


def split_text(vocab: Any, text: str) -> tuple[list[int], bool]:
    """Token ids covering ``text`` where it starts a pre-token, and whether the boundary was clean.

    The text is tokenized after each anchor in turn ('' first, then newline, ``;``, ``(``, tab) and
    the tokens covering its bytes are returned; this undoes SentencePiece's automatic space prefix.
    Not clean when no anchor gave a token boundary at the text's start (the first piece then also
    holds anchor bytes).
    """
    target = text.encode("utf-8")
    tb = vocab.token_bytes
    fallback: list[int] | None = None
    for anchor in ANCHORS:
        ids = _tokenize(vocab, anchor.encode("utf-8") + target)
        pieces = [tb[i] for i in ids]
        joined = b"".join(pieces)
        if not joined.endswith(target):
            continue
        start = len(joined) - len(target)
        pos = 0
        for j, p in enumerate(pieces):
            if pos == start:
                return ids[j:], True
            if pos + len(p) > start:  # this piece straddles the form's first byte
                if fallback is None:
                    fallback = ids[j:]
                break
            pos += len(p)
        else:
            if pos == start and not target:
                return [], True
    if fallback is not None:
        return fallback, False
    ids = _tokenize(vocab, target)
    return ids, False
