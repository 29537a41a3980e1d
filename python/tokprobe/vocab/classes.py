"""Token classes: every vocabulary entry, keyed by token id, gets exactly one class.

Rules (METHOD.md §1), applied to the bytes a token contributes to text (``vocab.token_bytes``;
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

``base`` tells the base vocabulary (``vocab.base_mask``) from added/special entries.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

from .keywords import english_lexicon, keyword_languages, load_keywords

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
DEFAULT_KIND_NAMES = ("normal", "control", "byte", "user_defined", "unused", "unknown")

WHITESPACE = " \t\r\n\f\v"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LOWER_OR_CAP_RE = re.compile(r"[A-Za-z][a-z]+\Z")
_UNUSED_RE = re.compile(
    r"(?:<unused\d+>|\[PAD\d+\]|<\|reserved_special_token_\d+\|>|<\|placeholder\d+\|>|<extra_id_\d+>|<\|extra_\d+\|>)\Z"
)
_SPECIAL_RE = re.compile(r"(?:<[^\s<>]{1,64}>|\[[A-Za-z_][A-Za-z0-9_]{0,30}\])\Z")


def kind_names(vocab: Any) -> tuple[str, ...]:
    """Names of the values in ``vocab.kind`` (the models layer's KIND_NAMES)."""
    names = getattr(vocab, "KIND_NAMES", None) or getattr(vocab, "kind_names", None)
    if names is None:
        try:
            from .. import models

            names = getattr(models, "KIND_NAMES", None)
        except Exception:  # models layer not importable (no llama_cpp): use the contract's order
            names = None
    return tuple(names) if names else DEFAULT_KIND_NAMES


# GGUF tokenizer.ggml.token_type values (llama.cpp's llama_token_type enum)
_GGUF_TYPE_NAMES = {0: "unknown", 1: "normal", 2: "unknown", 3: "control", 4: "user_defined", 5: "unused", 6: "byte"}


def file_token_types(vocab: Any) -> list[str] | None:
    """Token types as written in the GGUF file (``tokenizer.ggml.token_type``), when available.

    llama.cpp re-types some tokens when it loads a vocabulary (e.g. Qwen2's base BPE token ``</s>``
    becomes a control token), so the file's types are the authority for "base vocabulary" and
    classes; they come from ``vocab.file_token_type`` if the models layer offers it, else from the
    header it parsed. None when neither is there (then ``vocab.kind`` is used).
    """
    tt = getattr(vocab, "file_token_type", None)
    if tt is None:
        kv = getattr(getattr(vocab, "_header", None), "kv", None)
        tt = kv.get("tokenizer.ggml.token_type") if isinstance(kv, dict) else None
    if tt is None:
        return None
    arr = np.asarray(tt).ravel()
    if arr.size != int(vocab.n_vocab) or not np.issubdtype(arr.dtype, np.integer):
        return None
    return [_GGUF_TYPE_NAMES.get(int(t), "unknown") for t in arr.tolist()]


def token_kinds(vocab: Any) -> list[str]:
    """Type name of every token: the GGUF file's types when known, else the loaded ``vocab.kind``."""
    from_file = file_token_types(vocab)
    if from_file is not None:
        return from_file
    names = kind_names(vocab)
    kind = np.asarray(vocab.kind)
    return [names[k] if 0 <= k < len(names) else "unknown" for k in kind.tolist()]


def base_mask(vocab: Any, kinds: list[str] | None = None) -> np.ndarray:
    """Base vocabulary: entries typed normal or byte in the GGUF file (else ``vocab.base_mask``)."""
    if kinds is None and file_token_types(vocab) is None:
        return np.asarray(vocab.base_mask, dtype=bool)
    kinds = kinds if kinds is not None else token_kinds(vocab)
    return np.fromiter((k in ("normal", "byte") for k in kinds), dtype=bool, count=len(kinds))


_C = CLASS_ID
_ASCII_PUNCT_RE = re.compile(r"[!-/:-@\[-`{-~\s]+\Z")


def _text_class(b: bytes, kw_index: dict[str, tuple[str, ...]], lexicon: frozenset[str]) -> tuple[int, str, bool]:
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


_LEAD = {32: "space", 9: "tab", 10: "newline", 13: "newline"}
_CACHE: "OrderedDict[tuple, pd.DataFrame]" = OrderedDict()


def _cache_key(vocab: Any, keywords: dict[str, list[str]]) -> tuple | None:
    digest = getattr(vocab, "digest", None)
    if not isinstance(digest, str) or not digest:
        return None
    kw = tuple((l, tuple(v)) for l, v in keywords.items())
    return (digest, int(getattr(vocab, "n_vocab", 0)), hash(kw))


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
    token_bytes = vocab.token_bytes
    n = len(token_bytes)
    pieces = getattr(vocab, "pieces", None)
    if pieces is None or len(pieces) != n:
        pieces = [b.decode("utf-8", "backslashreplace") for b in token_bytes]
    from_file = file_token_types(vocab)
    kinds = from_file if from_file is not None else token_kinds(vocab)
    base = base_mask(vocab, kinds if from_file is not None else None)
    kw_index = keyword_languages(keywords)
    lexicon = english_lexicon()
    codes = np.empty(n, dtype=np.int8)
    kwl: dict[int, str] = {}
    bad_utf8: list[int] = []
    memo: dict[bytes, tuple[int, str, bool]] = {}
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
    kw_col = np.full(n, "", dtype=object)
    if kwl:
        kw_col[np.fromiter(kwl.keys(), dtype=np.int64)] = list(kwl.values())
    utf8 = np.ones(n, dtype=bool)
    utf8[bad_utf8] = False
    ws_idx = np.nonzero(codes == _C["whitespace"])[0]
    spaces = np.zeros(n, dtype=np.int64)
    tabs = np.zeros(n, dtype=np.int64)
    newlines = np.zeros(n, dtype=np.int64)
    for i in ws_idx.tolist():
        b = token_bytes[i]
        spaces[i] = b.count(b" ")
        tabs[i] = b.count(b"\t")
        newlines[i] = b.count(b"\n") + b.count(b"\r") - b.count(b"\r\n")
    lead = [_LEAD.get(b[0], "") if b else "" for b in token_bytes]
    df = pd.DataFrame(
        {
            "token_id": np.arange(n, dtype=np.int64),
            "piece": pieces,
            "text": [b.decode("utf-8", "backslashreplace") for b in token_bytes],
            "n_bytes": np.fromiter(map(len, token_bytes), dtype=np.int64, count=n),
            "kind": pd.Categorical(kinds, categories=list(DEFAULT_KIND_NAMES)),
            "base": base,
            "cls": pd.Categorical.from_codes(codes, categories=list(TOKEN_CLASSES)),
            "keyword_languages": kw_col,
            "lead": lead,
            "ws_spaces": spaces,
            "ws_tabs": tabs,
            "ws_newlines": newlines,
            "utf8": utf8,
        }
    )
    df.index = df["token_id"].to_numpy()
    df.index.name = None
    if key is not None:
        _CACHE[key] = df
        while len(_CACHE) > 8:
            _CACHE.popitem(last=False)
        return df.copy()
    return df


def class_map(vocab: Any, keywords: dict[str, list[str]] | None = None) -> np.ndarray:
    """int32[n_vocab]: index into TOKEN_CLASSES of every token (for core.TokenHistogram / class_mass)."""
    df = classify(vocab, keywords)
    return df["cls"].cat.codes.to_numpy().astype(np.int32)


def composition(classes: pd.DataFrame) -> pd.DataFrame:
    """Counts and shares per class: class, n_tokens, share, n_base, n_added (every class listed)."""
    n = len(classes)
    g = classes.groupby("cls", observed=False)
    out = pd.DataFrame(
        {
            "class": list(TOKEN_CLASSES),
            "n_tokens": g.size().reindex(TOKEN_CLASSES, fill_value=0).to_numpy(np.int64),
            "n_base": g["base"].sum().reindex(TOKEN_CLASSES, fill_value=0).to_numpy(np.int64),
        }
    )
    out["n_added"] = out["n_tokens"] - out["n_base"]
    out["share"] = out["n_tokens"] / n if n else 0.0
    return out[["class", "n_tokens", "share", "n_base", "n_added"]]


def keyword_token_counts(classes: pd.DataFrame, languages: list[str]) -> pd.DataFrame:
    """Per language: how many vocabulary tokens are one of its keywords (any surrounding whitespace)."""
    kw = classes.loc[classes["cls"] == "keyword", "keyword_languages"]
    rows = []
    for lang in languages:
        hit = kw.map(lambda s, l=lang: l in s.split(","))
        rows.append({"language": lang, "n_tokens": int(hit.sum())})
    return pd.DataFrame(rows, columns=["language", "n_tokens"])


def whitespace_lengths(classes: pd.DataFrame) -> pd.DataFrame:
    """Whitespace tokens by shape: spaces/tabs/newlines/newline+spaces/newline+tabs/mixed and run length."""
    ws = classes[classes["cls"] == "whitespace"]
    shape = []
    for text, s, t, nl in zip(ws["text"], ws["ws_spaces"], ws["ws_tabs"], ws["ws_newlines"]):
        if s and not t and not nl:
            shape.append("spaces")
        elif t and not s and not nl:
            shape.append("tabs")
        elif nl and not s and not t:
            shape.append("newlines")
        elif nl and set(text.lstrip("\r\n")) == {" "}:
            shape.append("newline+spaces")
        elif nl and set(text.lstrip("\r\n")) == {"\t"}:
            shape.append("newline+tabs")
        else:
            shape.append("mixed")
    out = pd.DataFrame(
        {"token_id": ws["token_id"].to_numpy(), "shape": shape, "length": ws["n_bytes"].to_numpy(),
         "spaces": ws["ws_spaces"].to_numpy(), "tabs": ws["ws_tabs"].to_numpy(), "newlines": ws["ws_newlines"].to_numpy(),
         "base": ws["base"].to_numpy()}
    )
    return out.sort_values(["shape", "length", "token_id"]).reset_index(drop=True)
