"""Cold-start rows measured in one process and analysed in another (a study's units on a cluster).

The only model work of a cold start is one forward pass per model (:func:`measure_row`). A
:class:`ColdRow` keeps that row with the context ids it followed and the settings the result records;
:func:`tokprobe.coldstart.coldstart` given ``measured={source: ColdRow}`` opens that model vocab-only
and replays the row (:class:`Replay`), so everything computed from it is what a run with the full
model computes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import io
from ..errors import FileFormatError, InputError
from ..models import load
from .context import DEFAULT_CONTEXT, ContextSpec, parse_context, resolve_context


@dataclass
class ColdRow:
    """One model's cold-start logits ``row`` after the context ``ids``, and the model's threads, n_ctx, seed."""

    row: np.ndarray
    ids: tuple[int, ...]
    facts: dict[str, Any]

    def save(self, path: str | os.PathLike[str]) -> Path:
        target = Path(path)
        with io.atomic_path(target) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, row=self.row, ids=np.array(self.ids, dtype=np.int64),
                     facts=np.array(io.to_json(self.facts)))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ColdRow:
        try:
            with np.load(path) as z:
                return cls(np.asarray(z["row"], dtype=np.float32), tuple(int(i) for i in z["ids"]),
                           dict(json.loads(str(z["facts"]))))
        except (OSError, KeyError, ValueError) as exc:
            raise FileFormatError(f"{path}: not a stored cold-start row ({exc})") from exc


def measure_row(src: Any, *, context: str | ContextSpec = DEFAULT_CONTEXT, threads: int | None = None,
                n_ctx: int | None = None) -> ColdRow:
    """Load ``src`` (a name or path), run the cold-start forward pass, close it."""
    kwargs: dict[str, Any] = {}
    if threads is not None:
        kwargs["threads"] = int(threads)
    if n_ctx is not None:
        kwargs["n_ctx"] = int(n_ctx)
    model = load(src, **kwargs)
    try:
        ctx = resolve_context(model, parse_context(context))
        row = np.ascontiguousarray(model.logits_after(list(ctx.ids)), dtype=np.float32).reshape(-1)
        facts = {k: getattr(model, k, None) for k in ("threads", "n_ctx", "seed")}
        return ColdRow(row, tuple(ctx.ids), facts)
    finally:
        model.close()


class Replay:
    """A vocab-only model whose ``logits_after`` is a row measured elsewhere (for the same context ids)."""

    def __init__(self, src: Any, measured: ColdRow) -> None:
        self._handle = load(src, vocab_only=True)
        self._measured = measured
        self.threads: Any = measured.facts.get("threads")
        self.n_ctx: Any = measured.facts.get("n_ctx")
        self.seed: Any = measured.facts.get("seed")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def logits_after(self, ids: list[int]) -> np.ndarray:
        if tuple(int(i) for i in ids) != self._measured.ids:
            raise InputError(f"the stored cold-start row follows context ids {list(self._measured.ids)}, not {ids}")
        if self._measured.row.size != int(self._handle.vocab.n_vocab):
            raise InputError(f"the stored cold-start row has {self._measured.row.size} logits for a vocabulary "
                             f"of {self._handle.vocab.n_vocab}")
        return self._measured.row

    def close(self) -> None:
        self._handle.close()
