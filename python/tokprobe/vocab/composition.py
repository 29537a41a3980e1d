"""Vocabulary composition from the token classes (:mod:`tokprobe.lexicon.token_classes`).

Counts and shares per class, keyword tokens per language and the shapes of whitespace tokens, all
read from the frame that :func:`tokprobe.lexicon.classify` returns (one row per token id).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..lexicon.token_classes import TOKEN_CLASSES


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
        hit = kw.map(lambda s, lang=lang: lang in s.split(","))
        rows.append({"language": lang, "n_tokens": int(hit.astype(bool).sum())})  # empty object Series sums to ''
    return pd.DataFrame(rows, columns=["language", "n_tokens"])


def whitespace_lengths(classes: pd.DataFrame) -> pd.DataFrame:
    """Whitespace tokens by shape: spaces/tabs/newlines/newline+spaces/newline+tabs/mixed and run length."""
    ws = classes[classes["cls"] == "whitespace"]
    shape: list[str] = []
    for text, s, t, nl in zip(ws["text"], ws["ws_spaces"], ws["ws_tabs"], ws["ws_newlines"], strict=True):
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
        {
            "token_id": ws["token_id"].to_numpy(), "shape": shape, "length": ws["n_bytes"].to_numpy(),
            "spaces": ws["ws_spaces"].to_numpy(), "tabs": ws["ws_tabs"].to_numpy(),
            "newlines": ws["ws_newlines"].to_numpy(), "base": ws["base"].to_numpy(),
        }
    )
    return out.sort_values(["shape", "length", "token_id"]).reset_index(drop=True)
