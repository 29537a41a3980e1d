"""A name, a path or a loaded Model -> a labelled handle: the one helper every analysis uses.

An analysis is given models as names (``'gemma3-270m-Q4_0'``), GGUF paths or loaded
:class:`~tokprobe.models.Model` objects. :func:`open_labelled` turns each into a
:class:`LabelledModel`: a display label, a vocab-only handle opened cheaply (or the user's own
model), and the full model loaded on demand. Models the user passed in are never closed here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..lexicon.vocab_digest import base_digest
from .loading import load


def is_model(obj: Any) -> bool:
    """Whether ``obj`` is a loaded model (a Model or anything shaped like one)."""
    return hasattr(obj, "vocab") and (hasattr(obj, "evaluate") or hasattr(obj, "logits_after"))


def label_for(spec: Any) -> str:
    """The display label of a model argument: a Model's name, a path's stem, else the name itself."""
    if is_model(spec):
        return str(getattr(spec, "name", None) or Path(str(getattr(spec, "path", "model"))).stem)
    s = str(spec)
    p = Path(s).expanduser()
    if p.suffix.lower() == ".gguf" or os.sep in s:
        return p.stem
    return s


def unique_labels(labels: Iterable[str]) -> list[str]:
    """Labels made unique in order: the second ``x`` becomes ``x#2``, the third ``x#3``."""
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab}#{seen[lab]}")
    return out


@dataclass
class LabelledModel:
    """A model argument with its label, its vocab-only handle and, once loaded, the full model."""

    spec: Any
    label: str
    handle: Any  # the vocab-only model, or the user's loaded model
    owned: bool  # whether ``handle`` was opened here (and must be closed here)
    model: Any = None
    model_owned: bool = False
    same_vocab: bool = True

    @property
    def sha256(self) -> str:
        return str(self.handle.sha256)

    @property
    def vocab(self) -> Any:
        return self.handle.vocab

    def info(self) -> dict[str, Any]:
        """Name, path, sha256 and the header's metadata, for provenance (never raises)."""
        h = self.handle
        d: dict[str, Any] = {"name": self.label, "path": str(getattr(h, "path", "")), "sha256": self.sha256}
        try:  # the base vocabulary's digest: equal to a tokenizer.json's when they are one vocabulary
            d["base_vocab_digest"] = base_digest(self.vocab)
        except Exception:  # provenance must never break a run
            pass
        info = getattr(h, "info", None)
        if info is not None and hasattr(info, "to_dict"):
            try:
                d.update({k: v for k, v in info.to_dict().items() if k not in d})
            except Exception:  # provenance must never break a run
                pass
        return d

    def load_full(self, *, n_ctx: int, n_batch: int, threads: int | None = None, seed: int = 0) -> Any:
        """The full model (loaded once; the user's own model is used as it is)."""
        if self.model is None:
            self.model = load(self.spec, threads=threads, n_ctx=n_ctx, n_batch=n_batch, seed=seed)
            self.model_owned = True
            if self.owned and hasattr(self.handle, "share_vocab_with"):
                self.handle.share_vocab_with(self.model)  # one copy of the vocabulary while both are open
        return self.model

    def unload(self) -> None:
        """Free the full model if it was loaded here (the vocab-only handle stays open)."""
        if self.model is not None and self.model_owned:
            try:
                self.model.close()
            finally:
                self.model = None
                self.model_owned = False

    def close(self) -> None:
        self.unload()
        if self.owned and self.handle is not None:
            try:
                self.handle.close()
            except Exception:  # closing must not mask the error that ended a run
                pass


def open_labelled(spec: Any, *, threads: int | None = None, seed: int = 0) -> LabelledModel:
    """A :class:`LabelledModel` for a name, a path or a loaded Model (a vocab-only load for the first two)."""
    if is_model(spec):
        return LabelledModel(spec, label_for(spec), spec, owned=False, model=spec, model_owned=False)
    handle = load(spec, vocab_only=True, threads=threads, seed=seed)
    return LabelledModel(spec, label_for(spec), handle, owned=True)
