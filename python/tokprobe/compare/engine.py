"""The comparison runner: lock-step and cached-reference modes, resumable.

One trip of data (docs/architecture.md): corpus files -> REF's tokenizer -> token stream with
per-token class and language -> windows -> the same batch decoded by REF and by each
variant -> logits views ``[rows, vocab]`` (no copies) -> ``tokprobe.core`` divergence
kernels -> per-token arrays, written per window as chunk files -> statistics.

:func:`compare` validates the :mod:`settings <tokprobe.compare.settings>`, opens the models,
builds the :mod:`plan <tokprobe.compare.plan>`, runs the :mod:`passes <tokprobe.compare.passes>`
that remain and gathers the stored arrays into a :class:`CompareResult`. Nothing holds more
than one batch of logits per model.

Modes
-----
``lockstep``
    The reference and every variant are loaded together; each batch is decoded by all of
    them and compared in place. Memory O(models x batch x vocab).
``cache-exact``
    The reference runs once and stores its float16 log-probs over the full vocabulary for
    the scored rows (2 bytes x vocab per token, as llama.cpp's ``--kl-divergence-base``),
    plus its exact per-token values (log-prob of the correct token, entropy, argmax). Each
    variant is then compared against the cache without loading the reference. The only
    error is float16 rounding of the reference log-probs (relative 2^-11); its effect on
    every token's KL is bounded (:func:`~tokprobe.compare.bounds.f16_kl_error_bound`) and
    reported as ``[kl_lower, kl_upper]``. PPL, Δp, same top-1 and the reference entropy are exact.
``cache-topk``
    The reference stores only its top-K ids and log-probs and the tail mass per token
    (8 x K + 32 bytes per token). KL is reported as the KL of the coarse-grained
    distributions (top-K tokens + one tail bucket), a lower bound of the true KL; the upper
    end of the stated interval ``[kl_lower = kl, kl_upper]`` is the smaller of the core's
    tail bound and :func:`~tokprobe.compare.bounds.tail_upper_bound` (which uses the
    reference's exact entropy). Reverse KL and JS are likewise coarse-grained lower bounds.
    PPL, Δp, same top-1 and the entropies are exact.

A reference cache is keyed by the reference's sha256, the token stream's sha256 (which
covers the corpus and the tokenizer), the scheme settings and the llama.cpp version, and is
reused by any later comparison with the same key. Chunk files are written atomically and
a run interrupted at any point (Ctrl-C included) resumes at the first unfinished window.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import core, io, locks
from ..cache import hash_file
from ..errors import InputError
from ..models import LabelledModel
from ..provenance import Provenance
from .batches import ProgressCounter, Timings, iter_batches
from .llamacpp_file import RULE as BASE_FILE_RULE
from .llamacpp_file import check_against, open_base_file, write_base_file
from .memory_plan import AUTO, plan_memory
from .parts import part_windows
from .passes import (
    pass_lockstep,
    pass_nll,
    pass_reference_cache,
    pass_variant_base_file,
    pass_variant_cached,
    self_floor,
)
from .plan import (
    RunPlan,
    build_plan,
    mark_vocabularies,
    open_models,
    progress_totals,
    recorded_floor,
    remaining,
    resolve_corpus,
    variant_specs,
    window_provenance,
)
from .result import CompareResult
from .settings import DEFAULT_BATCH, DEFAULT_N_CTX, DEFAULT_SCHEME, DEFAULT_TOPK, Progress, make_settings
from .store import ChunkStore


def compare(
    reference: Any,
    variants: Any,
    corpus: Any = None,
    *,
    n_ctx: int = DEFAULT_N_CTX,
    scheme: str = DEFAULT_SCHEME,
    stride: int | None = None,
    mode: str = AUTO,
    topk: int = DEFAULT_TOPK,
    memory_budget: int | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    language: str | None = None,
    max_tokens: int | None = None,
    tokens_per_language: int | None = None,
    batch: int = DEFAULT_BATCH,
    allow_different_vocab: bool = False,
    floor: bool = True,
    resume: bool = True,
    seed: int = 0,
    kld_base: str | os.PathLike[str] | None = None,
    write_kld_base: str | os.PathLike[str] | None = None,
) -> CompareResult:
    """Compare ``variants`` against ``reference`` token by token on a code corpus.

    Parameters
    ----------
    reference, variants
        Model names (e.g. ``'gemma3-270m-F16'``), GGUF paths, or loaded ``tokprobe.models.Model``
        objects; ``variants`` may be a single one. Variants must share the reference's
        vocabulary (same token count and texts), unless ``allow_different_vocab``: then those
        variants get only tokenizer-independent metrics (bits per byte, per-class bits) over the
        same bytes: each is scored on the corpus cut to the bytes the reference's stream covers
        (``max_tokens`` truncates by the reference's tokens, the others by the same bytes).
    corpus
        A file, a directory, a loaded ``tokprobe.corpus.Corpus``, or None for the shipped corpus.
    n_ctx
        Context length of each window (default 512, as llama.cpp's perplexity tool).
    scheme, stride
        ``'file'`` (default, whatever the corpus: each file its own sequence, BOS first where the
        vocabulary adds one, every token after the sequence's first scored once; a file longer than
        n_ctx continues in windows every ``stride`` tokens, default n_ctx/2), ``'llama'`` (llama.cpp's
        perplexity scheme over the concatenated files, exact to ``llama-perplexity``: windows of n_ctx,
        BOS first, second half scored, the tail dropped) or ``'sliding'`` (windows every ``stride``
        tokens over the concatenated files, every token scored once).
    mode
        ``'auto'`` (default: lock-step when every model fits the memory budget together, else the
        exact cached reference), ``'lockstep'``, ``'cache-exact'`` or ``'cache-topk'`` (with ``topk``
        = K, default 64). Chosen before any model is loaded (:mod:`tokprobe.compare.memory_plan`); a
        mode that does not fit ``memory_budget`` (bytes; default 80 % of the memory available now)
        is a one-line error. The plan is in ``provenance.settings['memory_plan']``.
    run_dir
        Where the per-window state and the results go (default: a directory under the tokprobe
        cache named by the run's key, so running the same comparison again resumes it).
    cache_dir
        Where reference caches go (default ``<tokprobe cache>/reference``).
    threads, seed
        Passed to the model loader and the core kernels; recorded in the provenance.
    progress
        ``progress(done, total)`` in scored tokens over all passes, called after every window.
    language, max_tokens
        Restrict the corpus to one language / truncate the token stream.
    tokens_per_language
        Balance the corpus first: about this many scored tokens of every language, shared among all
        its files (whole short files, first lines of long ones; :mod:`tokprobe.compare.balance`).
    batch
        Decode batch size (``n_batch``), at most n_ctx.
    floor
        Decode the first window of the reference twice and report max |KL| (must be 0.0); in mode
        cache-exact also ``codec_floor_kl_max``: the first decode against its own float16 log-probs.
    resume
        Reuse finished windows of an earlier, interrupted run with the same key (default).
    kld_base, write_kld_base
        A ``llama-perplexity --kl-divergence-base`` file to read as the reference instead of decoding
        it (its n_ctx, vocabulary and tokens are checked against the corpus), or one to write from the
        reference on the run's windows; both need ``scheme='llama'``
        (:mod:`tokprobe.compare.llamacpp_file`).

    Returns
    -------
    CompareResult
    """

    options = dict(n_ctx=n_ctx, scheme=scheme, stride=stride, mode=mode, topk=topk, memory_budget=memory_budget,
                   run_dir=run_dir, cache_dir=cache_dir, threads=threads, progress=progress, language=language,
                   max_tokens=max_tokens, tokens_per_language=tokens_per_language, batch=batch,
                   allow_different_vocab=allow_different_vocab, floor=floor, resume=resume, seed=seed,
                   kld_base=kld_base, write_kld_base=write_kld_base)
    with _session(reference, variants, corpus, options) as run:
        run_passes(run.plan, run.timings, run.progress)
        result = gather_result(run.plan, threads)
        result.provenance.settings["memory_plan"] = run.memory_plan
        if run.plan.base is not None:
            result.provenance.settings["reference_file"] = {"path": str(run.plan.base.path),
                                                            "sha256": run.plan.settings.base_file,
                                                            "rule": BASE_FILE_RULE}
        if write_kld_base is not None:
            out = write_reference_file(run.plan, write_kld_base, run.timings)
            result.provenance.settings["written_base_file"] = {"path": str(out), "bytes": out.stat().st_size}
        run.timings.add("total_s", time.perf_counter() - run.started)
        result.provenance.settings["timings"] = run.timings.seconds
        with run.timings.timer("save_s"):
            result.save(run.plan.run_dir)
        return result


def compare_part(reference: Any, variants: Any, corpus: Any = None, *, part: int, parts: int,
                 **options: Any) -> dict[str, Any]:
    """Part ``part`` of ``parts`` of a comparison: the same plan as :func:`compare` with the same
    ``options``, but only the part's windows decoded into its stores (no result is gathered).

    The parts split the windows into contiguous runs of about equal scored tokens
    (:func:`tokprobe.compare.parts.part_windows`). Each window is decoded on its own, so a part's
    chunks are the chunks a whole run writes for those windows: files of the parts' ``run_dir`` and
    ``cache_dir``, put side by side, are a finished run that :func:`compare` gathers without decoding
    (the study's Ray units, :mod:`tokprobe.study.units`). The part that holds window 0 measures the self
    floor. The mode must be given (not ``auto``): every part must key its stores alike. ``options`` are
    :func:`compare`'s keywords.
    """
    defaults = {k: p.default for k, p in inspect.signature(compare).parameters.items() if p.kind is p.KEYWORD_ONLY}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise InputError(f"compare_part: unknown option(s) {', '.join(unknown)}")
    options = {**defaults, **options}  # compare's defaults, from its signature: one home
    if options["mode"] == AUTO:
        raise InputError("compare_part needs the mode resolved (lockstep, cache-exact or cache-topk), not auto")
    if options["kld_base"] is not None or options["write_kld_base"] is not None:
        raise InputError("llama.cpp base files are read and written by whole runs, not by parts")
    if not 0 <= part < parts:
        raise InputError(f"part {part} of {parts}: give 0 <= part < parts")
    if options["allow_different_vocab"]:
        raise InputError("a comparison across vocabularies is not split into parts")
    with _session(reference, variants, corpus, {**options, "floor": False}) as run:
        plan = run.plan
        chosen = part_windows(plan.windows, part, parts)
        if chosen and chosen[0].index == 0 and options["floor"]:
            plan.want_floor = True  # the floor decodes window 0: its part measures it (once, for every part)
            plan.floor = recorded_floor(plan)
        if chosen:
            # The passes index windows by number: keep the windows up to the part's last, start at its first.
            plan.windows = plan.windows[:chosen[-1].index + 1]
            for store in [*plan.stores.values(), plan.ref_store, plan.ref_nll_store]:
                if store is not None:
                    store.first_window = chosen[0].index
            run_passes(plan, run.timings, run.progress)
        return {"part": part, "parts": parts, "windows": [w.index for w in chosen],
                "n_scored": sum(w.n_scored for w in chosen), "seconds": time.perf_counter() - run.started}


@dataclasses.dataclass
class _Session:
    plan: RunPlan
    timings: Timings
    progress: ProgressCounter
    memory_plan: dict[str, Any]
    started: float


@contextlib.contextmanager
def _session(reference: Any, variants: Any, corpus: Any, o: dict[str, Any]) -> Iterator[_Session]:
    """The settings checked, the models opened (vocab-only), the memory plan and the run plan built; the
    lock and the models released afterwards. ``o`` holds every keyword of :func:`compare`."""
    settings = make_settings(n_ctx=o["n_ctx"], scheme=o["scheme"], stride=o["stride"], mode=o["mode"],
                             topk=o["topk"], batch=o["batch"], max_tokens=o["max_tokens"], language=o["language"],
                             threads=o["threads"], seed=o["seed"], tokens_per_language=o["tokens_per_language"])
    specs = variant_specs(variants)
    base = None
    floor = bool(o["floor"])
    if o["kld_base"] is not None or o["write_kld_base"] is not None:
        if settings.scheme != "llama":
            raise InputError("llama.cpp's base files hold llama-perplexity's windows: use --scheme llama")
    if o["kld_base"] is not None:
        if o["allow_different_vocab"]:
            raise InputError("a llama.cpp base file is one vocabulary's: drop --allow-different-vocab")
        base = open_base_file(o["kld_base"])
        settings = dataclasses.replace(settings, base_file=hash_file(base.path), mode="cache-exact")
        floor = False  # no reference model is decoded
    if o["threads"] is not None:
        core.set_threads(int(o["threads"]))
    timings = Timings()
    started = time.perf_counter()
    entries = open_models(reference, specs, settings)
    plan: RunPlan | None = None
    try:
        paths = [e.handle.path for e in (entries[1:] if base is not None else entries)]
        mplan = plan_memory(paths, mode=settings.mode, n_ctx=settings.n_ctx, n_batch=settings.n_batch,
                            budget=o["memory_budget"])
        settings = dataclasses.replace(settings, mode=mplan.mode)
        ref, var_entries = entries[0], entries[1:]
        mark_vocabularies(ref, var_entries, bool(o["allow_different_vocab"]))
        with timings.timer("prepare_s"):
            plan = build_plan(settings, ref, var_entries, resolve_corpus(corpus, o["language"]),
                              run_dir=o["run_dir"], cache_dir=o["cache_dir"], resume=bool(o["resume"]), floor=floor)
        if base is not None:
            check_against(base, plan.stream.ids, ref.vocab.n_vocab, settings.n_ctx)
            plan.base = base
        prog = ProgressCounter(o["progress"], *progress_totals(plan))
        prog.start()
        yield _Session(plan, timings, prog, mplan.to_dict(), started)
    finally:
        if plan is not None:
            locks.release(plan.run_dir)  # taken by build_plan
        for e in entries:
            e.close()


# -- the passes that remain -----------------------------------------------------------------------------
def load_model(e: LabelledModel, plan: RunPlan, timings: Timings) -> Any:
    """The full model of ``e`` (loaded once), timed as ``load_s``."""
    s = plan.settings
    with timings.timer("load_s"):
        return e.load_full(n_ctx=s.n_ctx, n_batch=s.n_batch, threads=s.threads, seed=s.seed)


def ensure_floor(plan: RunPlan, timings: Timings) -> None:
    """Measure the reference's self-floor unless it is off or already recorded; record it."""
    if plan.want_floor and not plan.floor:
        rm = load_model(plan.reference, plan, timings)
        with timings.timer("floor_s"):
            plan.floor = self_floor(rm, plan.stream.ids, plan.settings)
        io.write_json(plan.floor_path, plan.floor)
        if plan.ref_store is not None:
            plan.ref_store.update_manifest(floor=plan.floor)


def run_lockstep(plan: RunPlan, timings: Timings, prog: ProgressCounter) -> None:
    ensure_floor(plan, timings)
    shared = plan.shared
    if plan.stores and any(remaining(s, plan.windows) for s in plan.stores.values()):
        rm = load_model(plan.reference, plan, timings)
        vms = [load_model(e, plan, timings) for e in shared]
        with timings.timer("passes_s"):
            pass_lockstep(rm, vms, [plan.stores[e.label] for e in shared], plan.stream, plan.windows,
                          plan.settings, prog)
        for e in shared:
            e.unload()


def run_cached(plan: RunPlan, ref_store: ChunkStore, timings: Timings, prog: ProgressCounter) -> None:
    """The reference cache (written unless complete), then each variant against it."""
    if remaining(ref_store, plan.windows):
        ensure_floor(plan, timings)
        rm = load_model(plan.reference, plan, timings)
        with timings.timer("passes_s"):
            pass_reference_cache(rm, ref_store, plan.stream, plan.windows, plan.settings, prog)
        del rm  # one model at a time: no reference left alive while a variant loads
    if not ref_store.manifest.get("complete"):
        ref_store.update_manifest(complete=True, bytes=ref_store.nbytes())
    ensure_floor(plan, timings)  # a reused cache made without the floor
    plan.reference.unload()
    for e in plan.shared:
        st = plan.stores[e.label]
        if remaining(st, plan.windows):
            vm = load_model(e, plan, timings)
            with timings.timer("passes_s"):
                pass_variant_cached(vm, ref_store, st, plan.stream, plan.windows, plan.settings, prog)
            del vm  # freed before the next variant loads (the memory plan counts one at a time)
            e.unload()


def run_alone(plan: RunPlan, timings: Timings, prog: ProgressCounter) -> None:
    """The passes of one model alone: the reference without a shared variant, other vocabularies."""
    if plan.ref_nll_store is not None:
        ensure_floor(plan, timings)
        if remaining(plan.ref_nll_store, plan.windows):
            rm = load_model(plan.reference, plan, timings)
            with timings.timer("passes_s"):
                pass_nll(rm, plan.ref_nll_store, plan.stream, plan.windows, plan.settings, prog)
    plan.reference.unload()
    for run in plan.independent.values():
        if remaining(run.store, run.windows):
            em = load_model(run.model, plan, timings)
            with timings.timer("passes_s"):
                pass_nll(em, run.store, run.stream, run.windows, plan.settings, prog)
            run.model.unload()


def run_base_file(plan: RunPlan, timings: Timings, prog: ProgressCounter) -> None:
    """Each variant against llama.cpp's base file (the reference model is never decoded)."""
    for e in plan.shared:
        st = plan.stores[e.label]
        if not remaining(st, plan.windows):
            continue
        vm = load_model(e, plan, timings)
        with timings.timer("passes_s"):
            pass_variant_base_file(vm, plan.base, st, plan.stream, plan.windows, plan.settings, prog)
        del vm
        e.unload()


def write_reference_file(plan: RunPlan, path: str | os.PathLike[str], timings: Timings) -> Path:
    """llama.cpp's --kl-divergence-base file of the reference on the run's llama windows."""
    rm = load_model(plan.reference, plan, timings)
    n_ctx = plan.settings.n_ctx
    with timings.timer("write_base_s"):
        blocks = (np.array(b.logits, dtype=np.float32)
                  for b in iter_batches(rm, plan.stream.ids, plan.windows, 0, plan.settings, plan.stream.file_starts))
        out = write_base_file(path, n_ctx, rm.n_vocab, plan.stream.ids[:len(plan.windows) * n_ctx], blocks)
    plan.reference.unload()
    return out


def run_passes(plan: RunPlan, timings: Timings, prog: ProgressCounter) -> None:
    if plan.base is not None:
        run_base_file(plan, timings, prog)
    elif plan.settings.mode == "lockstep":
        run_lockstep(plan, timings, prog)
    elif plan.ref_store is not None:
        run_cached(plan, plan.ref_store, timings, prog)
    run_alone(plan, timings, prog)


# -- gathering --------------------------------------------------------------------------------------------
def gather(store: ChunkStore, n_windows: int) -> dict[str, np.ndarray]:
    """Every window's arrays of ``store``, concatenated in stream order."""
    parts = [store.read_window(w) for w in range(n_windows)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def independent_metrics(plan: RunPlan, per_variant: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, Any]]:
    """Per model, what the tokenizer-independent metrics need: its stream and NLL arrays."""
    ref, shared = plan.reference, plan.shared
    if plan.ref_nll_store is not None:
        ref_nll = gather(plan.ref_nll_store, len(plan.windows))
    else:  # every shared variant's arrays hold the reference side
        first = per_variant[shared[0].label]
        ref_nll = {"positions": first["positions"], "logp": first["logp_ref"], "entropy": first["entropy_ref"],
                   "argmax": first["argmax_ref"]}
    out: dict[str, dict[str, Any]] = {ref.label: {"stream": plan.stream, "arrays": ref_nll, "entry": ref,
                                                   "role": "reference", "vocab": "reference"}}
    for e in shared:
        a = per_variant[e.label]
        out[e.label] = {"stream": plan.stream, "entry": e, "role": "variant", "vocab": "shared",
                        "arrays": {"positions": a["positions"], "logp": a["logp_var"]}}
    for label, run in plan.independent.items():
        out[label] = {"stream": run.stream, "entry": run.model, "role": "variant", "vocab": "different",
                      "arrays": gather(run.store, len(run.windows))}
    return out


def reference_cache_info(ref_store: ChunkStore, n_scored: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "path": str(ref_store.path),
        "kind": ref_store.manifest["kind"],
        "topk": ref_store.manifest.get("topk"),
        "bytes": int(ref_store.manifest.get("bytes") or ref_store.nbytes()),
        "n_scored": n_scored,
    }
    info["bytes_per_token"] = info["bytes"] / max(n_scored, 1)
    return info


def run_provenance(plan: RunPlan, threads: int | None) -> Provenance:
    s, stream = plan.settings, plan.stream
    return Provenance(
        settings={**s.to_dict(), "run_dir": str(plan.run_dir), "corpus_digest": plan.corpus_digest,
                  "tokens_digest": stream.digest, "n_tokens": len(stream), "n_windows": len(plan.windows),
                  "n_scored": plan.n_scored, "windows": window_provenance(stream, plan.windows),
                  "reference_cache": plan.reference_cache or None,
                  "self_floor": plan.floor or None, "aligned_files": stream.n_aligned_files,
                  "corpus_files": len(stream.files), "different_vocab": [e.label for e in plan.different],
                  "threads_effective": threads_effective(plan.reference, threads)},
        models={"reference": plan.reference.info(), **{f"variant:{e.label}": e.info() for e in plan.variants}},
    )


def gather_result(plan: RunPlan, threads: int | None) -> CompareResult:
    """The finished stores read back into a :class:`CompareResult` (not yet saved)."""
    ref = plan.reference
    per_variant = {e.label: gather(plan.stores[e.label], len(plan.windows)) for e in plan.shared}
    independent = independent_metrics(plan, per_variant)
    if plan.ref_store is not None:
        plan.reference_cache = reference_cache_info(plan.ref_store, plan.n_scored)
    return CompareResult(
        reference=ref.label,
        variants=[e.label for e in plan.shared],
        per_variant=per_variant,
        stream=plan.stream,
        plan=plan.windows,
        settings=plan.settings,
        provenance=run_provenance(plan, threads),
        token_bytes=list(ref.vocab.token_bytes),
        floor=plan.floor,
        reference_cache=plan.reference_cache,
        independent=independent,
        run_dir=plan.run_dir,
        var_sha256={e.label: e.sha256 for e in plan.variants},
        ref_sha256=ref.sha256,
    )


def threads_effective(ref: LabelledModel, threads: int | None) -> int | None:
    """The thread count the reference's handle reports, else the one asked for."""
    t = getattr(ref.handle, "threads", None)
    if t is None:
        return threads
    try:
        return int(t)
    except (TypeError, ValueError):
        return threads
