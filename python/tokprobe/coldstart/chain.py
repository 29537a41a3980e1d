"""Exact cold-start probabilities of multi-token keywords by chaining conditionals.

For a keyword form (bare ``def`` or space-prefixed `` def``, ...) tokenized canonically as
``t1 .. tn`` (no BOS, special tokens not parsed):

    P(form | ctx) = P(t1 | ctx) * P(t2 | ctx t1) * ... * P(tn | ctx t1 .. t(n-1))

(teacher forcing). This is the probability that the model *emits the canonical tokenization*
of the form; other tokenizations of the same string are not added (their mass is usually
negligible, and summing over all of them is exponential). Every distinct prefix
``ctx t1 .. tj`` is decoded once; prefixes are batched through ``Model.logits_for_contexts``.
The first factor uses the cold-start row itself (no extra forward pass).

**Counting rule: word boundary.** ``P(t1 .. tn)`` alone is not the probability of *the keyword*:
P(`for`) already contains P(`foreach`) when that splits as `for` + `each` (and `as` contains
`assert`, `async`, ...: the shipped lists hold 121 such prefix pairs), so summing the chained
probabilities adds overlapping events. Each form is therefore counted only when it ends at a word
boundary, the next token starting a new word:

    P_word(form | ctx) = P(t1 .. tn | ctx) * P(boundary | ctx t1 .. tn)

where *boundary* is the set of tokens whose text starts with a byte that cannot continue an
identifier (not an ASCII letter, digit or ``_``, nor a UTF-8 lead byte: a space-prefixed token,
an operator, a newline, ...) or that have no text (end of generation). This costs one more
prefix row per form (the row after its last piece). Two counted events are then disjoint unless
one form's pieces are a proper prefix of another's and the rest of the longer one starts with a
boundary token (`yield` and `yield from` split as `yield` + `` from``): then the longer form's
event lies inside the shorter's and it is left out of the sum (``counted`` False). So
``pkp_chained`` (the sum of ``p_word`` over counted forms) is the probability of a union of
disjoint events: the model writes one of the keywords as a whole word.
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
# Recorded in the cold-start provenance (settings ``chain_rule``).
CHAIN_RULE = ("word-boundary: a form counts as P(pieces) * P(next token starts a new word); a form whose "
              "pieces extend a counted form's pieces by a boundary token is not summed (its mass is inside)")
_IDENTIFIER_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") | frozenset(
    range(0x80, 0x100))


def boundary_mask(token_bytes: Sequence[bytes]) -> np.ndarray:
    """Tokens that start a new word after a keyword: no text, or a first byte that cannot continue an
    identifier (not an ASCII letter, digit, ``_`` or a non-ASCII byte)."""
    return np.array([not b or b[0] not in _IDENTIFIER_BYTES for b in token_bytes], dtype=bool)


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
    model: Any, ctx: tuple[int, ...], entries: list[Entry], boundary: np.ndarray, batch: int
) -> tuple[dict[tuple[int, ...], dict[int, float]], dict[tuple[int, ...], float]]:
    """For every distinct prefix ``ctx t1 .. tj`` (j = 1 .. n): the log-probabilities of the next
    pieces needed, and the log-probability that the next token is a word boundary."""
    needed: dict[tuple[int, ...], set[int]] = {}
    for e in entries:
        ids = e[4] if e[5] else ()
        for j in range(1, len(ids) + 1):
            needed.setdefault(ctx + ids[:j], set())
            if j < len(ids):
                needed[ctx + ids[:j]].add(ids[j])
    prefix_list = list(needed)
    gathered: dict[tuple[int, ...], dict[int, float]] = {}
    ends: dict[tuple[int, ...], float] = {}
    for start in range(0, len(prefix_list), max(1, batch)):
        chunk = prefix_list[start : start + max(1, batch)]
        rows = np.ascontiguousarray(model.logits_for_contexts([list(p) for p in chunk]), dtype=np.float32)
        lse = np.asarray(core.row_stats(rows).logsumexp, dtype=np.float64)
        mask = np.zeros(rows.shape[1], dtype=bool)
        mask[: min(len(boundary), rows.shape[1])] = boundary[: rows.shape[1]]
        for r, p in enumerate(chunk):
            gathered[p] = {t: float(rows[r, t]) - float(lse[r]) for t in needed[p]}
            ends[p] = _masked_logsumexp(rows[r], mask) - float(lse[r])
    return gathered, ends


def _masked_logsumexp(row: np.ndarray, mask: np.ndarray) -> float:
    vals = row[mask].astype(np.float64)
    if not vals.size:
        return float("-inf")
    top = float(vals.max())
    return top + float(np.log(np.exp(vals - top).sum())) if np.isfinite(top) else top


def _counted(entries: list[Entry], boundary: np.ndarray) -> list[bool]:
    """False for a form whose pieces extend another exact form's pieces by a boundary token."""
    exact = {e[4] for e in entries if e[4] and e[5]}
    out = []
    for e in entries:
        ids = e[4]
        inside = any(ids[:j] in exact and bool(boundary[ids[j]]) for j in range(1, len(ids)))
        out.append(bool(e[5] and ids) and not inside)
    return out


def chained_mass(table: pd.DataFrame) -> float:
    """The chained keyword mass: ``p_word`` summed over the counted forms (disjoint events)."""
    if not len(table):
        return 0.0
    return float(np.nansum(table.loc[table["counted"], "p_word"].to_numpy(dtype=np.float64)))


def chain_table(
    model: Any,
    context_ids: Sequence[int],
    cold_row: np.ndarray,
    cold_logsumexp: float,
    sets: TokenSets,
    *,
    batch: int = CHAIN_BATCH,
) -> pd.DataFrame:
    """One row per (keyword, form): pieces, exact text flag, chained log-probabilities.

    Columns: keyword, form, form_text, languages, n_pieces, piece_ids, exact_text (the pieces
    decode to exactly the form's bytes; when they cannot, the probabilities are NaN), single_token_id
    (the vocabulary token equal to the form, -1 none), logprob and p (of the pieces), boundary_logprob
    (of a word boundary after them), logprob_word and p_word (the form as a whole word: their sum /
    product), counted (summed into the chained mass; see the module's counting rule).
    """
    ctx = tuple(int(i) for i in context_ids)
    entries = _entries(model, sets)
    boundary = boundary_mask(sets.token_bytes)
    gathered, ends = _prefix_logprobs(model, ctx, entries, boundary, batch)
    counted = _counted(entries, boundary)
    cold = as_matrix(cold_row)[0]
    out = []
    for (kw, form, text, kw_langs, ids, exact, single_id), use in zip(entries, counted, strict=True):
        lp = end = float("nan")
        if ids and exact:
            lp = float(cold[ids[0]]) - cold_logsumexp
            for j in range(1, len(ids)):
                lp += gathered[ctx + ids[:j]][ids[j]]
            end = ends[ctx + ids]
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
                "boundary_logprob": end,
                "logprob_word": lp + end,
                "p_word": float(np.exp(lp + end)) if not np.isnan(lp + end) else float("nan"),
                "counted": use,
            }
        )
    df = pd.DataFrame(out)
    df.attrs["n_prefix_rows"] = len(gathered)
    return df
