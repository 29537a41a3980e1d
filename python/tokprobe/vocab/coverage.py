"""Keyword coverage: is each keyword ONE vocabulary token, in each surface form, and if not, how it splits.

Forms (docs/method.md §1, :mod:`tokprobe.lexicon.forms`): ``bare`` (``def``), ``space`` (`` def``:
byte-level ``Ġdef`` / SentencePiece ``▁def``) and ``newline`` (``\\ndef``).

* ``token_id``: the vocabulary entry whose bytes are exactly the form (normal or user-defined
  entries; byte-fallback/control/unused entries never count), -1 when there is none. For a
  tokenizer.json vocabulary (:mod:`tokprobe.vocab.hf_tokenizer`) the entry is found by encoding the
  form: the one token it encodes to. Coverage
  counts these. A keyword containing whitespace (PHP's ``yield from``) is never covered.
* ``n_pieces``/``pieces``/``piece_ids``: how the tokenizer itself splits the form where it occurs in
  text (:func:`tokprobe.lexicon.split_text`: tokenized after an anchor that starts a fresh
  pre-token, which undoes SentencePiece's automatic space prefix). ``clean`` is False when no anchor
  gave a token boundary at the form's start (the first piece then also holds anchor bytes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..lexicon.forms import FORMS, form_text, split_text
from ..lexicon.kinds import token_kinds

_COUNTED_KINDS = ("normal", "user_defined")


def bytes_index(vocab: Any) -> dict[bytes, list[int]]:
    """{token bytes: [ids]} over normal and user-defined entries (ids ascending, normal first)."""
    cached: dict[bytes, list[int]] | None = getattr(vocab, "_tokprobe_bytes_index", None)
    if cached is not None:
        return cached
    kinds = token_kinds(vocab)
    idx: dict[bytes, list[int]] = {}
    for want in _COUNTED_KINDS:
        for i, (b, k) in enumerate(zip(vocab.token_bytes, kinds, strict=False)):
            if k == want and b:
                idx.setdefault(b, []).append(i)
    try:
        vocab._tokprobe_bytes_index = idx  # a memo on the vocabulary object
    except (AttributeError, TypeError):
        pass
    return idx


def form_split(vocab: Any, text: str) -> tuple[list[int], bool]:
    """How ``text`` splits where it starts a pre-token: the vocabulary's own encoder-based ``split_form``
    (tokenizer.json vocabularies) or :func:`tokprobe.lexicon.split_text`."""
    own = getattr(vocab, "split_form", None)
    if callable(own):
        out: tuple[list[int], bool] = own(text)
        return out
    return split_text(vocab, text)


def form_token(vocab: Any, text: str, idx: dict[bytes, list[int]], split: tuple[list[int], bool] | None) -> int:
    """The one vocabulary token that IS ``text`` (-1: none). A vocabulary with ``split_form`` answers by
    encoding (one clean piece); a GGUF vocabulary by its token bytes."""
    if callable(getattr(vocab, "split_form", None)):
        ids, clean = split if split is not None else form_split(vocab, text)
        if not clean or len(ids) != 1:
            return -1
        counted = ids[0] in idx.get(vocab.token_bytes[ids[0]], ())  # normal/user-defined entries only (no [UNK])
        return ids[0] if counted else -1
    ids = idx.get(text.encode("utf-8"), [])
    return ids[0] if ids else -1


def _piece_text(vocab: Any, i: int) -> str:
    text: str = vocab.token_bytes[i].decode("utf-8", "backslashreplace")
    return text


def keyword_tokens(
    vocab: Any,
    keywords: dict[str, list[str]],
    forms: Iterable[str] = FORMS,
    *,
    split: bool = True,
) -> pd.DataFrame:
    """One row per (language, keyword, form).

    Columns: language, keyword, form, text (the form's text), token_id (-1: not one vocabulary token),
    n_matches (vocabulary entries with those bytes; >1 means duplicates), multiword, n_pieces,
    pieces (JSON list of the pieces' texts), piece_ids (space-separated), clean, tokenizer_single
    (the tokenizer emits the form as one token). ``split=False`` skips tokenization (pieces empty,
    n_pieces 1 or 0) — for vocabularies without a tokenizer.
    """
    forms = list(forms)
    for f in forms:
        form_text("x", f)
    idx = bytes_index(vocab)
    split_cache: dict[str, tuple[list[int], bool]] = {}
    rows: list[tuple[Any, ...]] = []
    for lang, kws in keywords.items():
        for kw in kws:
            multi = any(c.isspace() for c in kw)
            for form in forms:
                text = form_text(kw, form)
                ids = [] if multi else idx.get(text.encode("utf-8"), [])
                if split and text not in split_cache:
                    split_cache[text] = form_split(vocab, text)
                tid = -1 if multi else form_token(vocab, text, idx, split_cache.get(text))
                if split:
                    pids, clean = split_cache[text]
                else:
                    pids, clean = ([tid] if tid >= 0 else []), True
                rows.append(
                    (
                        lang, kw, form, text, tid, len(ids), multi, len(pids),
                        json.dumps([_piece_text(vocab, i) for i in pids], ensure_ascii=False),
                        " ".join(str(i) for i in pids), clean, len(pids) == 1,
                    )
                )
    cols = ["language", "keyword", "form", "text", "token_id", "n_matches", "multiword", "n_pieces",
            "pieces", "piece_ids", "clean", "tokenizer_single"]
    df = pd.DataFrame(rows, columns=cols)
    df["token_id"] = df["token_id"].astype(np.int64)
    return df


def coverage_summary(kw: pd.DataFrame, *, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Coverage per language and form, plus form ``any`` (covered in at least one form) and a row
    ``ALL`` over the union of all languages' keywords (each distinct keyword once).

    Columns: [*by,] language, form, n_keywords, n_covered, coverage (share in [0, 1]).
    """
    if kw.empty:
        return pd.DataFrame(columns=[*by, "language", "form", "n_keywords", "n_covered", "coverage"])
    covered = kw.assign(_cov=kw["token_id"] >= 0)
    out_rows = []
    grouped = [((), covered)] if not by else list(covered.groupby(list(by), sort=False))
    for gkey, g in grouped:
        gkey = gkey if isinstance(gkey, tuple) else (gkey,)
        per = g.pivot_table(index=["language", "keyword"], columns="form", values="_cov", aggfunc="max", sort=False)
        per["any"] = per.max(axis=1)
        forms = [f for f in FORMS if f in per.columns] + ["any"]
        langs = list(dict.fromkeys(g["language"]))
        for lang in langs:
            sub = per.loc[lang]
            for f in forms:
                n = int(len(sub))
                c = int(sub[f].sum())
                out_rows.append((*gkey, lang, f, n, c, c / n if n else np.nan))
        union = per.groupby(level="keyword", sort=False).max()
        for f in forms:
            n = int(len(union))
            c = int(union[f].sum())
            out_rows.append((*gkey, "ALL", f, n, c, c / n if n else np.nan))
    return pd.DataFrame(out_rows, columns=[*by, "language", "form", "n_keywords", "n_covered", "coverage"])


def coverage_wide(summary: pd.DataFrame, *, by: str | None = "tokenizer") -> pd.DataFrame:
    """Summary as one row per (tokenizer,) language with one coverage column per form."""
    idx = ([by] if by and by in summary.columns else []) + ["language"]
    wide = summary.pivot_table(index=idx, columns="form", values="coverage", sort=False)
    nkw = summary.pivot_table(index=idx, values="n_keywords", aggfunc="max", sort=False)
    cols = [f for f in (*FORMS, "any") if f in wide.columns]
    out = pd.concat([nkw, wide[cols]], axis=1).reset_index()
    return out
