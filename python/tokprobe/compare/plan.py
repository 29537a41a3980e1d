"""The plan of a comparison: its models, token stream, windows, stores and the work that remains.

:func:`open_models` opens the models named on the command line (vocab-only), :func:`build_plan`
tokenizes the corpus, plans the windows and opens every store (which is what makes a run
resumable); the passes then only read the :class:`RunPlan`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import io, locks
from .._version import __version__
from ..cache import compare_dir, reference_dir
from ..corpus import load_corpus
from ..errors import InputError, VocabMismatchError
from ..models import LabelledModel, Window, is_model, open_labelled, plan_windows, unique_labels
from .balance import balance_corpus
from .settings import (
    KEY_LENGTH,
    Settings,
    independent_nll_key,
    reference_cache_key,
    reference_key,
    reference_nll_key,
    run_key,
    variant_key,
)
from .store import ChunkStore
from .stream import TokenStream, build_stream, same_bytes


@dataclass
class IndependentRun:
    """A variant with another vocabulary: scored alone on its own token stream."""

    model: LabelledModel
    stream: TokenStream
    windows: list[Window]
    store: ChunkStore


@dataclass
class RunPlan:
    settings: Settings
    reference: LabelledModel
    variants: list[LabelledModel]
    stream: TokenStream  # the reference's tokenization of the corpus
    windows: list[Window]
    run_dir: Path
    corpus_digest: str
    ref_key: str
    stores: dict[str, ChunkStore]  # label -> comparison state of each variant sharing the vocabulary
    ref_store: ChunkStore | None  # the reference cache (cached modes with such variants)
    ref_nll_store: ChunkStore | None  # the reference alone, when no variant shares its vocabulary
    independent: dict[str, IndependentRun]  # label -> a variant with another vocabulary
    floor_path: Path
    want_floor: bool
    floor: dict[str, Any] = field(default_factory=dict)
    reference_cache: dict[str, Any] = field(default_factory=dict)
    base: Any = None  # a llama.cpp base file (compare.llamacpp_file.BaseFile) standing in for the reference

    @property
    def shared(self) -> list[LabelledModel]:
        return [e for e in self.variants if e.same_vocab]

    @property
    def different(self) -> list[LabelledModel]:
        return [e for e in self.variants if not e.same_vocab]

    @property
    def n_scored(self) -> int:
        return sum(w.n_scored for w in self.windows)


def remaining(store: ChunkStore, windows: list[Window]) -> int:
    """Scored tokens of the windows ``store`` has not finished (from its ``first_window`` on: a part's own)."""
    done = store.done_windows()
    return sum(w.n_scored for w in windows if w.index >= store.first_window and w.index not in done)


# -- models ---------------------------------------------------------------------------------------------
def check_vocab(reference: Any, variant: Any, ref_label: str = "reference", var_label: str = "variant") -> None:
    """Raise :class:`VocabMismatchError` unless the two vocabularies have the same token texts."""
    rv = reference.vocab if hasattr(reference, "vocab") else reference
    vv = variant.vocab if hasattr(variant, "vocab") else variant
    if rv.n_vocab == vv.n_vocab and rv.digest == vv.digest:
        return
    diff = rv.first_difference(vv)
    where = ""
    if diff is not None:
        i, mine, theirs = diff
        where = f"; first differing token {i}: {mine!r} in {ref_label}, {theirs!r} in {var_label}"
    raise VocabMismatchError(
        f"{var_label} does not share the vocabulary of {ref_label} "
        f"({rv.n_vocab} vs {vv.n_vocab} tokens{where}); use --allow-different-vocab for "
        f"tokenizer-independent metrics only"
    )


def variant_specs(variants: Any) -> list[Any]:
    """The variants argument as a non-empty list (one name, path or Model is a list of one)."""
    if isinstance(variants, (str, os.PathLike)) or is_model(variants):
        variants = [variants]
    specs = list(variants)
    if not specs:
        raise InputError("name at least one variant to compare with the reference")
    return specs


def open_models(reference: Any, variants: Sequence[Any], settings: Settings) -> list[LabelledModel]:
    """The reference then each variant, labelled uniquely (on failure the opened ones are closed)."""
    opened: list[LabelledModel] = []
    try:
        for spec in [reference, *variants]:
            opened.append(open_labelled(spec, threads=settings.threads, seed=settings.seed))
    except BaseException:
        for e in opened:
            e.close()
        raise
    for e, label in zip(opened, unique_labels([e.label for e in opened]), strict=True):
        e.label = label
    return opened


def mark_vocabularies(ref: LabelledModel, variants: list[LabelledModel], allow_different_vocab: bool) -> None:
    """Check each variant's vocabulary against the reference's; flag the different ones if allowed."""
    for e in variants:
        try:
            check_vocab(ref.handle, e.handle, ref.label, e.label)
        except VocabMismatchError:
            if not allow_different_vocab:
                raise
            e.same_vocab = False


# -- the plan -------------------------------------------------------------------------------------------
def resolve_corpus(corpus: Any, language: str | None) -> Any:
    """A loaded corpus as it is, else :func:`tokprobe.corpus.load_corpus` of the argument."""
    if corpus is not None and hasattr(corpus, "files"):
        return corpus
    return load_corpus(corpus, language=language)


def _variant_store(run_dir: Path, ref_key: str, ref: LabelledModel, e: LabelledModel, n_windows: int,
                   settings: Settings, resume: bool) -> ChunkStore:
    key = variant_key(ref_key, e.sha256, settings)
    return ChunkStore.open(run_dir / "state" / key[:KEY_LENGTH], {
        "key": key, "kind": "comparison", "mode": settings.mode, "reference": ref.sha256, "variant": e.sha256,
        "variant_label": e.label, "n_windows": n_windows, "settings": settings.to_dict(),
    }, resume=resume)


def _reference_cache(cache_dir: Path, ref_key: str, ref: LabelledModel, stream: TokenStream,
                     windows: list[Window], corpus_digest: str, settings: Settings) -> ChunkStore:
    kind = "exact" if settings.mode == "cache-exact" else "topk"
    rkey = reference_cache_key(ref_key, kind, settings.topk)
    return ChunkStore.open(cache_dir / f"{rkey[:KEY_LENGTH]}-{kind}", {
        "key": rkey, "kind": kind, "topk": settings.topk if kind == "topk" else None,
        "reference": ref.info(), "tokens_digest": stream.digest, "corpus_digest": corpus_digest,
        "n_tokens": len(stream), "n_vocab": int(ref.vocab.n_vocab), "n_windows": len(windows),
        "n_scored": sum(w.n_scored for w in windows), "settings": {**settings.eval_key(), "mode": settings.mode},
        "tokprobe_version": __version__,
    }, resume=True)  # a finished reference cache is always reusable


def stream_windows(stream: TokenStream, settings: Settings, add_bos: bool) -> list[Window]:
    """The windows of ``settings``' scheme over ``stream`` (scheme 'file': from its file boundaries)."""
    starts = stream.file_starts if settings.scheme == "file" else None
    return plan_windows(len(stream), settings.n_ctx, scheme=settings.scheme, stride=settings.stride,
                        add_bos=add_bos, file_starts=starts)


def window_provenance(stream: TokenStream, windows: list[Window]) -> dict[str, Any]:
    """The windows of a run per corpus file: its tokens, scored tokens and windows scoring them."""
    n_files = len(stream.files)
    scored = np.zeros(n_files, dtype=np.int64)
    n_win = np.zeros(n_files, dtype=np.int64)
    for w in windows:
        f = stream.file[w.positions + 1]
        f = f[f >= 0]
        scored += np.bincount(f, minlength=n_files)
        n_win[np.unique(f)] += 1
    return {"n_windows": len(windows), "n_scored": int(scored.sum()),
            "files": [{"path": fs.path, "language": fs.language, "tokens": fs.n_tokens, "scored": int(scored[i]),
                       "windows": int(n_win[i])} for i, fs in enumerate(stream.files)]}


def _independent_run(files: Any, run_dir: Path, e: LabelledModel, settings: Settings, resume: bool) -> IndependentRun:
    """A variant with another vocabulary on ``files`` (already cut to the reference's bytes)."""
    s = build_stream(files, e.handle, e.vocab)
    p = stream_windows(s, settings, e.vocab.add_bos)
    key = independent_nll_key(e.sha256, s.digest, settings)
    st = ChunkStore.open(run_dir / "state" / key[:KEY_LENGTH], {"key": key, "kind": "nll", "model": e.sha256,
                                                                "label": e.label}, resume=resume)
    return IndependentRun(e, s, p, st)


def scored_counter(settings: Settings, ref: LabelledModel) -> Callable[[list[Any]], list[int]]:
    """``files -> scored tokens of each file`` under ``settings``' scheme with the reference's tokenizer."""
    def count(files: list[Any]) -> list[int]:
        stream = build_stream(files, ref.handle, ref.vocab)
        prov = window_provenance(stream, stream_windows(stream, settings, ref.vocab.add_bos))
        by_path = {f["path"]: int(f["scored"]) for f in prov["files"]}
        return [by_path.get(str(f.path), 0) for f in files]
    return count


def build_plan(settings: Settings, ref: LabelledModel, variants: list[LabelledModel], corpus_obj: Any, *,
               run_dir: str | os.PathLike[str] | None, cache_dir: str | os.PathLike[str] | None, resume: bool,
               floor: bool) -> RunPlan:
    """Balance the corpus if asked, tokenize, plan the windows, derive the keys and open every store."""
    if settings.tokens_per_language:
        corpus_obj = balance_corpus(corpus_obj, settings.tokens_per_language, scored_counter(settings, ref))
    stream = build_stream(corpus_obj.files, ref.handle, ref.vocab, max_tokens=settings.max_tokens)
    windows = stream_windows(stream, settings, ref.vocab.add_bos)
    corpus_digest = str(getattr(corpus_obj, "digest", ""))
    ref_key = reference_key(ref.sha256, stream.digest, settings)
    rkey = run_key(ref_key, [e.sha256 for e in variants], settings)
    rdir = Path(run_dir) if run_dir is not None else compare_dir() / rkey[:KEY_LENGTH]
    rdir.mkdir(parents=True, exist_ok=True)
    # Before any store opens (resume=False clears it): a second process errors out, naming the holder.
    locks.acquire(rdir, "compare run")
    shared = [e for e in variants if e.same_vocab]
    cdir = Path(cache_dir) if cache_dir is not None else reference_dir()
    stores = {e.label: _variant_store(rdir, ref_key, ref, e, len(windows), settings, resume) for e in shared}
    ref_store = None
    if settings.mode != "lockstep" and shared and not settings.base_file:
        ref_store = _reference_cache(cdir, ref_key, ref, stream, windows, corpus_digest, settings)
    ref_nll_store = None
    if not shared:
        key = reference_nll_key(ref_key)
        ref_nll_store = ChunkStore.open(rdir / "state" / key[:KEY_LENGTH], {"key": key, "kind": "nll",
                                                                            "model": ref.sha256}, resume=resume)
    same = same_bytes(corpus_obj.files, stream) if any(not e.same_vocab for e in variants) else []
    independent = {e.label: _independent_run(same, rdir, e, settings, resume) for e in variants if not e.same_vocab}
    plan = RunPlan(settings, ref, variants, stream, windows, rdir, corpus_digest, ref_key, stores, ref_store,
                   ref_nll_store, independent, rdir / "state" / f"floor-{ref_key[:KEY_LENGTH]}.json", floor)
    if floor:
        plan.floor = recorded_floor(plan)
    return plan


def recorded_floor(plan: RunPlan) -> dict[str, Any]:
    """The self-floor an earlier run recorded with the reference cache or in the run directory
    (none when mode cache-exact needs the codec floor and the record lacks it)."""
    floor: dict[str, Any] = {}
    if plan.ref_store is not None and "floor" in plan.ref_store.manifest:
        floor = dict(plan.ref_store.manifest["floor"])
    elif plan.floor_path.exists():
        floor = dict(io.read_json(plan.floor_path))
    if plan.settings.mode == "cache-exact" and "codec_floor_kl_max" not in floor:
        return {}
    return floor


def progress_totals(plan: RunPlan) -> tuple[int, int]:
    """(total, done) scored tokens over every pass the run needs."""
    n_plan = plan.n_scored
    total, done = 0, 0
    if plan.settings.mode == "lockstep":
        if plan.stores:
            total += n_plan
            done += n_plan - max(remaining(s, plan.windows) for s in plan.stores.values())
    else:
        for s in [plan.ref_store, *plan.stores.values()]:
            if s is not None:
                total += n_plan
                done += n_plan - remaining(s, plan.windows)
    if plan.ref_nll_store is not None:
        total += n_plan
        done += n_plan - remaining(plan.ref_nll_store, plan.windows)
    for run in plan.independent.values():
        n = sum(w.n_scored for w in run.windows)
        total += n
        done += n - remaining(run.store, run.windows)
    return total, done
