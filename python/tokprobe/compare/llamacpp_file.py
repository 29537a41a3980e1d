"""llama.cpp's ``--kl-divergence-base`` files: read one as the reference of a comparison, write one.

The format (``tools/perplexity/perplexity.cpp`` of the pinned llama.cpp): the 8 bytes ``_logits_``,
``uint32 n_ctx``, ``int32 n_vocab``, ``int32 n_chunk``, the ``n_ctx * n_chunk`` int32 tokens of the
chunks, then for each chunk its ``n_ctx - 1 - n_ctx/2`` scored rows (the second half of the window,
llama.cpp's scheme: tokprobe's ``llama`` scheme), each ``nv = 2 * ((n_vocab + 1) / 2) + 4`` uint16:
a float32 ``scale`` and a float32 ``min_log_prob`` (4 uint16), then every token's log-prob quantized as
``round((logit - min_logit) / scale)`` with ``min_logit = max(min logit, max logit - 16)`` (0 below).

Read as the reference, a row's log-prob of token i is ``scale * q_i + min_log_prob``; like llama.cpp,
tokens at or below -16 nats count as probability 0 in KL(ref || variant), its top-1, entropy and the
top-k agreement. Reverse KL and JS need the reference everywhere the variant has mass, so there the
quantized floor (``min_log_prob``) stands for those tokens: an approximation, stated in the provenance.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError, InputError
from .bounds import overlap

MAGIC = b"_logits_"
HEADER = 8 + 4 + 4 + 4
CUT = -16.0  # llama.cpp's: base log-probs at or below it are left out of KL
RULE = ("reference = llama.cpp --kl-divergence-base file (uint16 log-probs); KL, top-1, entropy and top-k "
        "agreement over the tokens above -16 nats as llama.cpp; reverse KL and JS with the other tokens at the "
        "row's quantization floor")


def row_width(n_vocab: int) -> int:
    """uint16 values per stored row: the two float32 and the vocabulary, padded to an even count."""
    return 2 * ((n_vocab + 1) // 2) + 4


@dataclass
class BaseFile:
    """An opened base file: its header and the rows as a read-only memory map ``[chunk, row, nv]``."""

    path: Path
    n_ctx: int
    n_vocab: int
    n_chunk: int
    tokens: np.ndarray  # int32 [n_chunk * n_ctx]
    rows: np.ndarray  # uint16 memmap [n_chunk, n_ctx - 1 - n_ctx // 2, nv]

    @property
    def first(self) -> int:
        return self.n_ctx // 2

    def chunk_rows(self, chunk: int) -> np.ndarray:
        return np.asarray(self.rows[chunk])


def open_base_file(path: str | os.PathLike[str]) -> BaseFile:
    """Open and check ``path``: magic, header and a size that matches it exactly (one-line errors)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"llama.cpp base file not found: {p}")
    size = p.stat().st_size
    with p.open("rb") as f:
        head = f.read(HEADER)
    if len(head) < HEADER or head[:8] != MAGIC:
        raise FileFormatError(f"{p}: not a llama.cpp --kl-divergence-base file (no _logits_ header)")
    n_ctx = int(np.frombuffer(head, np.uint32, 1, 8)[0])
    n_vocab, n_chunk = (int(x) for x in np.frombuffer(head, np.int32, 2, 12))
    if not (4 <= n_ctx <= 1 << 20 and 1 <= n_vocab <= 1 << 24 and 1 <= n_chunk <= 1 << 24):
        raise FileFormatError(f"{p}: implausible header (n_ctx {n_ctx}, n_vocab {n_vocab}, n_chunk {n_chunk})")
    n_rows = n_ctx - 1 - n_ctx // 2
    want = HEADER + 4 * n_ctx * n_chunk + 2 * n_chunk * n_rows * row_width(n_vocab)
    if size != want:
        raise FileFormatError(f"{p}: {size} bytes, but its header (n_ctx {n_ctx}, n_vocab {n_vocab}, {n_chunk} "
                              f"chunks) needs {want}: truncated or not written by this llama.cpp")
    tokens = np.fromfile(p, dtype=np.int32, count=n_ctx * n_chunk, offset=HEADER)
    rows = np.memmap(p, dtype=np.uint16, mode="r", offset=HEADER + 4 * n_ctx * n_chunk,
                     shape=(n_chunk, n_rows, row_width(n_vocab)))
    return BaseFile(p, n_ctx, n_vocab, n_chunk, tokens, rows)


def check_against(base: BaseFile, ids: np.ndarray, n_vocab: int, n_ctx: int) -> None:
    """The base file must come from this tokenizer, context and token stream (one-line errors)."""
    if base.n_vocab != n_vocab:
        raise InputError(f"{base.path}: made with a vocabulary of {base.n_vocab} tokens, the reference has {n_vocab}")
    if base.n_ctx != n_ctx:
        raise InputError(f"{base.path}: made with -c {base.n_ctx}; run compare with --ctx {base.n_ctx}")
    n = base.n_chunk * base.n_ctx
    if len(ids) < n:
        raise InputError(f"{base.path}: holds {base.n_chunk} chunks of {base.n_ctx} tokens but the corpus gives "
                         f"only {len(ids)} tokens")
    diff = np.flatnonzero(np.asarray(ids[:n], dtype=np.int64) != base.tokens.astype(np.int64))
    if diff.size:
        raise InputError(f"{base.path}: its tokens differ from this corpus's at position {int(diff[0])} "
                         f"({int(base.tokens[diff[0]])} vs {int(ids[diff[0]])}): made from another text or tokenizer")


def dequantize(raw: np.ndarray, n_vocab: int) -> tuple[np.ndarray, np.ndarray]:
    """(log-probs float64 [rows, n_vocab], min_log_prob [rows]) of stored rows ``raw`` uint16 [rows, nv]."""
    head = np.ascontiguousarray(raw[:, :4]).view(np.float32)  # [rows, 2]: scale, min_log_prob
    scale, floor = head[:, 0].astype(np.float64), head[:, 1].astype(np.float64)
    lp = raw[:, 4:4 + n_vocab].astype(np.float64) * scale[:, None] + floor[:, None]
    return lp, floor


def quantize(logits: np.ndarray) -> np.ndarray:
    """Rows of float32 logits -> llama.cpp's stored rows uint16 [rows, nv] (its log_softmax, vectorized)."""
    x = np.asarray(logits, dtype=np.float32)
    rows, n_vocab = x.shape
    mx = x.max(axis=1)
    mn = np.maximum(x.min(axis=1), mx - np.float32(16))
    lse = np.log(np.exp((x - mx[:, None]).astype(np.float64)).sum(axis=1)).astype(np.float32)
    out = np.zeros((rows, row_width(n_vocab)), dtype=np.uint16)
    scale = ((mx - mn) / np.float32(65535)).astype(np.float32)
    head = np.stack([scale, (mn - mx - lse).astype(np.float32)], axis=1).astype(np.float32)
    out[:, :4] = head.view(np.uint16)
    safe = np.where(scale > 0, scale, np.float32(1))
    inv = (np.float32(1) / safe).astype(np.float32)
    q = np.rint((inv[:, None] * (x - mn[:, None])).astype(np.float32))
    q = np.where((x > mn[:, None]) & (scale[:, None] > 0), q, 0)
    out[:, 4:4 + n_vocab] = np.clip(q, 0, 65535).astype(np.uint16)
    return out


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    out: np.ndarray = x - lse
    return out


def divergence_rows(raw: np.ndarray, var_logits: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row statistics of the variant against stored base rows (see the module for the rules)."""
    n_vocab = var_logits.shape[1]
    lp_ref, floor = dequantize(raw, n_vocab)
    lq = _log_softmax(np.asarray(var_logits, dtype=np.float64))
    keep = lp_ref > CUT
    p = np.where(keep, np.exp(lp_ref), 0.0)
    kl = np.where(keep, p * (lp_ref - lq), 0.0).sum(axis=1)
    lp_floor = np.where(keep, lp_ref, floor[:, None])  # every token of the reference, the tail at the floor
    q = np.exp(lq)
    rev = (q * (lq - lp_floor)).sum(axis=1)
    pm = np.exp(lp_floor)
    m = 0.5 * (pm + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        lm = np.log(m)
    js = 0.5 * (pm * (lp_floor - lm)).sum(axis=1) + 0.5 * (q * (lq - lm)).sum(axis=1)
    rows = np.arange(len(targets))
    ref_rank = np.argsort(-np.where(keep, lp_ref, -np.inf), axis=1, kind="stable")[:, :10]
    var_rank = np.argsort(-lq, axis=1, kind="stable")[:, :10]
    return {
        "kl": kl, "kl_reverse": rev, "js": js,
        "entropy_ref": -(np.where(keep, p * lp_ref, 0.0)).sum(axis=1),
        "entropy_var": -(q * lq).sum(axis=1),
        "logp_ref": lp_ref[rows, targets], "logp_var": lq[rows, targets],
        "argmax_ref": ref_rank[:, 0].astype(np.int32), "argmax_var": var_rank[:, 0].astype(np.int32),
        "top5_overlap": overlap(ref_rank[:, :5], var_rank[:, :5]),
        "top10_overlap": overlap(ref_rank, var_rank),
        "kl_lower": kl, "kl_upper": kl,
    }


def write_base_file(path: str | os.PathLike[str], n_ctx: int, n_vocab: int, tokens: np.ndarray,
                    row_blocks: Any) -> Path:
    """Write a base file: ``tokens`` (int32, n_chunk * n_ctx, n_chunk = len // n_ctx) and ``row_blocks``,
    an iterable of float32 logits ``[rows, n_vocab]`` that are every chunk's scored rows in order
    (``n_ctx - 1 - n_ctx // 2`` per chunk). Written atomically (a temporary file, then renamed)."""
    p = Path(path)
    n_chunk = len(tokens) // n_ctx
    need = n_chunk * (n_ctx - 1 - n_ctx // 2)
    tmp = p.with_name(p.name + ".tmp")
    written = 0
    with tmp.open("wb") as f:
        f.write(MAGIC)
        f.write(np.array([n_ctx], np.uint32).tobytes())
        f.write(np.array([n_vocab, n_chunk], np.int32).tobytes())
        f.write(np.asarray(tokens[:n_chunk * n_ctx], dtype=np.int32).tobytes())
        for block in row_blocks:
            for i in range(0, len(block), BLOCK_ROWS):
                f.write(quantize(block[i:i + BLOCK_ROWS]).tobytes())
            written += len(block)
    if written != need:
        tmp.unlink()
        raise InputError(f"internal error: {written} scored rows for {n_chunk} chunks ({need} rows)")
    os.replace(tmp, p)
    return p


BLOCK_ROWS = 8  # rows per numpy block: a few float64 [8, vocab] temporaries at a time


def base_fields(base: BaseFile, window: int, local: np.ndarray, var_logits: np.ndarray,
                targets: np.ndarray) -> dict[str, np.ndarray]:
    """The variant's rows at positions ``local`` of llama window (chunk) ``window`` against its stored rows."""
    raw = base.rows[window]
    rows = np.asarray(local, dtype=np.int64) - base.first
    parts = [divergence_rows(np.asarray(raw[rows[i:i + BLOCK_ROWS]]), var_logits[i:i + BLOCK_ROWS],
                             targets[i:i + BLOCK_ROWS]) for i in range(0, len(rows), BLOCK_ROWS)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
