"""Exact cold-start probabilities of multi-token keywords by chaining conditionals.

For a keyword form (bare ``def`` or space-prefixed `` def``, ...) tokenized canonically as
``t1 .. tn`` (no BOS, special tokens not parsed):

    P(form | ctx) = P(t1 | ctx) * P(t2 | ctx t1) * ... * P(tn | ctx t1 .. t(n-1))

(teacher forcing). This is the probability that the model *emits the canonical tokenization*
of the form; other tokenizations of the same string are not added (their mass is usually
negligible, and summing over all of them is exponential). Every distinct prefix
``ctx t1 .. tj`` is decoded once; prefixes are batched through ``Model.logits_for_contexts``.
The first factor uses the cold-start row itself (no extra forward pass).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import core
from ..lexicon.forms import KEYWORD_FORMS, split_text
from .metrics import as_matrix
from .tokensets import TokenSets

CHAIN_BATCH = 32  # prefixes per logits_for_contexts call (each row is n_vocab float32)


def _pieces(model: Any, text: str, token_bytes: Sequence[bytes]) -> tuple[tuple[int, ...], bool]:
    """Canonical token ids of ``text`` and whether they decode to exactly its bytes.

    Plain tokenization first; when that does not reproduce the text (SentencePiece vocabularies
    that add a space prefix), the shared splitter :func:`tokprobe.lexicon.split_text`, which
    tokenizes the form after an anchor that starts a fresh pre-token, is tried.
    """
    want = text.encode("utf-8")
    ids = tuple(int(t) for t in model.tokenize(text, add_bos=False, special=False))
    if b"".join(token_bytes[t] for t in ids) == want:
        return ids, True
    split, clean = split_text(getattr(model, "vocab", model), text)
    alt = tuple(int(t) for t in split)
    if clean and b"".join(token_bytes[t] for t in alt) == want:
        return alt, True
    return ids, False


Entry = tuple[str, str, str, str, tuple[int, ...], bool, int]  # keyword, form, text, languages, ids, exact, single


def _entries(model: Any, sets: TokenSets) -> list[Entry]:
    """One entry per (keyword, form): its canonical pieces and the single vocabulary token (-1 none)."""
    langs: dict[str, list[str]] = {}
    for lang, kws in sets.keywords.items():
        for kw in kws:
            langs.setdefault(kw, [])
            if lang not in langs[kw]:
                langs[kw].append(lang)
    table = sets.keyword_table
    single = (
        table[table.token_id >= 0].groupby(["keyword", "form"]).token_id.min().to_dict() if len(table) else {}
    )
    token_bytes = sets.token_bytes  # same vocabulary digest; avoids re-reading the model's table
    entries = []
    for kw, kw_langs in langs.items():
        for form in sets.keyword_forms:
            text = KEYWORD_FORMS[form] + kw
            ids, exact = _pieces(model, text, token_bytes)
            entries.append((kw, form, text, ",".join(kw_langs), ids, exact, int(single.get((kw, form), -1))))
    return entries


def _prefix_logprobs(
    model: Any, ctx: tuple[int, ...], entries: list[Entry], batch: int
) -> dict[tuple[int, ...], dict[int, float]]:
    """For every distinct prefix ``ctx t1 .. tj``: the log-probabilities of the next pieces needed."""
    prefixes: dict[tuple[int, ...], int] = {}
    for e in entries:
        ids = e[4] if e[5] else ()
        for j in range(1, len(ids)):
            prefixes.setdefault(ctx + ids[:j], len(prefixes))
    # log-normaliser and the needed logits of each prefix row
    needed: dict[tuple[int, ...], set[int]] = {}
    for e in entries:
        ids = e[4] if e[5] else ()
        for j in range(1, len(ids)):
            needed.setdefault(ctx + ids[:j], set()).add(ids[j])
    prefix_list = list(prefixes)
    gathered: dict[tuple[int, ...], dict[int, float]] = {}
    for start in range(0, len(prefix_list), max(1, batch)):
        chunk = prefix_list[start : start + max(1, batch)]
        rows = np.ascontiguousarray(model.logits_for_contexts([list(p) for p in chunk]), dtype=np.float32)
        lse = np.asarray(core.row_stats(rows).logsumexp, dtype=np.float64)
        for r, p in enumerate(chunk):
            gathered[p] = {t: float(rows[r, t]) - float(lse[r]) for t in needed[p]}
    return gathered


def chain_table(
    model: Any,
    context_ids: Sequence[int],
    cold_row: np.ndarray,
    cold_logsumexp: float,
    sets: TokenSets,
    *,
    batch: int = CHAIN_BATCH,
) -> pd.DataFrame:
    """One row per (keyword, form): pieces, exact text flag, chained log-probability.

    Columns: keyword, form, form_text, languages, n_pieces, piece_ids, exact_text (the pieces
    decode to exactly the form's bytes; when they cannot, logprob and p are NaN), single_token_id
    (the vocabulary token equal to the form, -1 none), logprob, p.
    """
    ctx = tuple(int(i) for i in context_ids)
    entries = _entries(model, sets)
    gathered = _prefix_logprobs(model, ctx, entries, batch)
    cold = as_matrix(cold_row)[0]
    out = []
    for kw, form, text, kw_langs, ids, exact, single_id in entries:
        if not ids or not exact:
            lp = float("nan")
        else:
            lp = float(cold[ids[0]]) - cold_logsumexp
            for j in range(1, len(ids)):
                lp += gathered[ctx + ids[:j]][ids[j]]
        out.append(
            {
                "keyword": kw,
                "form": form,
                "form_text": text,
                "languages": kw_langs,
                "n_pieces": len(ids),
                "piece_ids": " ".join(str(t) for t in ids),
                "exact_text": bool(exact),
                "single_token_id": single_id,
                "logprob": lp,
                "p": float(np.exp(lp)) if np.isfinite(lp) else float("nan"),
            }
        )
    df = pd.DataFrame(out)
    df.attrs["n_prefix_rows"] = len(gathered)
    return df
