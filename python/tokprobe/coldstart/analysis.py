"""Cold-start probability analysis over one or several models (docs/method.md §2)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import core, io
from ..errors import InputError
from ..lexicon.vocab_digest import base_digest
from ..models import is_model, load, unique_labels
from ..provenance import Provenance
from .chain import CHAIN_RULE, chain_table, chained_mass
from .context import DEFAULT_CONTEXT, ContextSpec, ResolvedContext, parse_context, resolve_context
from .intervals import RULE as INTERVAL_RULE
from .intervals import draws, mass_interval, ratio_interval
from .metrics import HOLD_LEVELS, RowMetrics, divergence, largest_shifts, probabilities, row_metrics, spearman
from .plot import plot_metrics, plot_shifts
from .replay import ColdRow, Replay
from .tokensets import TokenSets, build_token_sets, check_forms
from .words import digest_words, load_control_words, load_keyword_lists

Progress = Callable[[int, int], None]
TABLES = ("summary", "per_language", "top_tokens", "keyword_probs", "pairwise", "shifts", "class_mass", "chained")


@dataclass
class ModelRun:
    """What was measured on one model (kept for comparisons between models)."""

    label: str
    source: str
    context: ResolvedContext
    sets: TokenSets
    metrics: RowMetrics
    row: np.ndarray  # float32 [V] cold-start logits
    info: dict[str, Any]
    sha256: str
    chained: pd.DataFrame | None = None


@dataclass
class ColdStartResult:
    """Cold-start tables (pandas) plus provenance. The first model (or ``reference``) is the
    reference of ``pairwise`` and ``shifts``."""

    summary: pd.DataFrame
    per_language: pd.DataFrame
    top_tokens: pd.DataFrame
    keyword_probs: pd.DataFrame
    pairwise: pd.DataFrame
    shifts: pd.DataFrame
    class_mass: pd.DataFrame
    chained: pd.DataFrame | None
    provenance: Provenance
    logits: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0), np.float32))
    """float32 [n_models, V] cold-start logits rows (only when all models share a vocabulary size)."""

    @property
    def reference(self) -> str:
        return str(self.provenance.settings.get("reference", ""))

    def tables(self) -> dict[str, pd.DataFrame]:
        out = {name: getattr(self, name) for name in TABLES}
        return {k: v for k, v in out.items() if v is not None}

    def write(self, out_dir: str | os.PathLike[str], fmt: str = "csv", plots: bool = True) -> dict[str, Path]:
        """Write every table (``fmt``: csv, json or parquet), ``provenance.json`` and the plots
        to ``out_dir``, each file atomically. Returns name -> path."""
        fmt = fmt.lower()
        if fmt == "table":
            fmt = "csv"
        if fmt not in ("csv", "json", "parquet"):
            raise InputError(f"unknown table format {fmt!r}; use csv, json or parquet")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for name, df in self.tables().items():
            written[name] = io.write_frame(df, out / f"{name}.{fmt}", fmt)
        written["provenance"] = io.write_json(out / "provenance.json", self.provenance.to_dict())
        if plots:
            written["plot_metrics"] = plot_metrics(self.summary, out / "coldstart_metrics.png")
            if len(self.shifts):
                written["plot_shifts"] = plot_shifts(self.shifts, out / "coldstart_shifts.png")
        return written


def _sources(models: Any) -> list[tuple[str | None, Any]]:
    """(label or None, name/path/Model) for each model argument."""
    if isinstance(models, Mapping):
        return [(str(k), v) for k, v in models.items()]
    if isinstance(models, (str, os.PathLike)) or is_model(models):
        return [(None, models)]
    items = list(models)
    if not items:
        raise InputError("no models given")
    return [(None, m) for m in items]


def _info(model: Any) -> dict[str, Any]:
    """What the result records about a model, from its GGUF header (cheap: no vocabulary pass)."""
    header = getattr(model, "header", None)
    vocab = model.vocab
    out: dict[str, Any] = {
        "name": getattr(model, "name", None),
        "path": str(getattr(model, "path", "")),
        "n_vocab": int(vocab.n_vocab),
        "vocab_type": getattr(vocab, "type", None),
        "bos_id": getattr(vocab, "bos_id", None),
        "eos_id": getattr(vocab, "eos_id", None),
        "add_bos": getattr(vocab, "add_bos", None),
        "threads": getattr(model, "threads", None),
        "n_ctx": getattr(model, "n_ctx", None),
        "seed": getattr(model, "seed", None),
        # the base vocabulary's digest: equal to a tokenizer.json's when they are one vocabulary
        "base_vocab_digest": base_digest(vocab),
    }
    if header is not None:
        for key in ("arch", "n_params", "file_type", "bits_per_weight", "file_size", "has_chat_template"):
            try:
                out[key] = getattr(header, key)
            except Exception:  # a header without that field
                out[key] = None
    return out


def _token_meta(sets: TokenSets) -> pd.DataFrame:
    """Per keyword token id: the keywords, forms and languages it stands for."""
    t = sets.keyword_table[sets.keyword_table.token_id >= 0]
    g = t.groupby("token_id")
    meta = pd.DataFrame(
        {
            "keywords": g.keyword.agg(lambda s: ",".join(dict.fromkeys(s))),
            "forms": g.form.agg(lambda s: ",".join(dict.fromkeys(s))),
            "languages": g.language.agg(lambda s: ",".join(dict.fromkeys(s))),
        }
    )
    return meta.reindex(sets.keyword_ids.astype(np.int64))


def display_text(sets: TokenSets, tid: int) -> str:
    """Decoded text of a token; the raw piece for tokens that render as nothing (control)."""
    return sets.display(tid)


@dataclass(frozen=True)
class Words:
    """The word lists and rules one cold-start run measures with, and where the lists came from."""

    keywords: dict[str, list[str]]
    keywords_source: str
    control: list[str]
    control_source: str
    forms: tuple[str, ...]
    nlp_capitalized: bool = True


def _check_options(top_k: Any, n_shifts: Any, out_dir: Any, out_format: str) -> None:
    if not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise InputError(f"top_k must be a positive integer, not {top_k!r}")
    if not isinstance(n_shifts, (int, np.integer)) or n_shifts < 0:
        raise InputError(f"n_shifts must be a non-negative integer, not {n_shifts!r}")
    if out_dir is not None and str(out_format).lower() not in ("csv", "json", "parquet"):
        raise InputError(f"unknown table format {out_format!r}; use csv, json or parquet")


def coldstart(
    models: Any,
    *,
    context: str | ContextSpec = DEFAULT_CONTEXT,
    top_k: int = 20,
    keywords: Mapping[str, Sequence[str]] | str | os.PathLike[str] | None = None,
    chain: bool = False,
    threads: int | None = None,
    progress: Progress | None = None,
    keyword_forms: Sequence[str] | str | None = None,
    control_words: Sequence[str] | str | os.PathLike[str] | None = None,
    languages: Sequence[str] | str | None = None,
    reference: int | str = 0,
    n_shifts: int = 20,
    n_ctx: int | None = None,
    nlp_capitalized: bool = True,
    out_dir: str | os.PathLike[str] | None = None,
    out_format: str = "csv",
    measured: Mapping[str, ColdRow] | None = None,
) -> ColdStartResult:
    """Cold-start distributions of one or several models, with PKP, KAP, STP, NLP and more.

    ``models``: a name (``'gemma3-270m'``, ``'gemma3-270m-Q4_0'``), a path, a loaded ``Model``, a
    list of those, or a mapping label -> name/path (e.g. ``tokprobe.models.ladder()``). Names
    and paths are loaded one at a time (``threads``, ``n_ctx`` passed to ``models.load``) and
    closed; Model objects are used as they are.

    Per model, one forward pass over the context (``Model.logits_after``) gives the cold-start
    row; everything else is computed from that row with the native core (class mass, top-k,
    row statistics, divergence). ``chain=True`` adds the exact probability of every keyword form
    by chaining conditionals (one batched pass per group of distinct prefixes).

    Decisions (recorded in ``provenance.settings`` and, per model, ``provenance.models``):

    * ``context`` (default ``'auto'``): ``bos`` when the vocabulary has a BOS and adds it to
      prompts (Gemma), else the ``<|endoftext|>`` document separator when the vocabulary has one
      (SmolLM2, whose BOS and EOS are chat tokens), else ``eos``; also ``bos``, ``eos``,
      ``endoftext``, ``chat``, ``text:...``, ``ids:...`` (see :mod:`tokprobe.coldstart.context`).
      The resolved mode and the exact ids are in the summary and the provenance.
    * ``keyword_forms`` (default ``('bare', 'space')``): which single-token surface forms of a
      keyword count in PKP (``newline`` also available); ids de-duplicated across languages;
      KAP divides by the number of distinct keywords. ``keywords``/``languages`` choose the lists.
    * STP: tokens whose decoded text, leading whitespace stripped, starts with ASCII punctuation
      (not ``_``) or a Unicode symbol; whitespace-only, control and unused tokens excluded;
      set size reported (see :mod:`tokprobe.coldstart.tokensets`).
    * NLP over the shipped English control list (``control_words`` to override), in the
      keyword forms, each word as listed and capitalised (``nlp_capitalized``: a document starts
      with ``The``), minus keyword tokens.
    * ``reference`` (index or label, default the first model): the model that ``pairwise``,
      ``shifts`` and the summary's ``*_to_ref`` columns compare the others with (only models
      with the same vocabulary digest; others get NaN and ``same_vocab = False``).
    * ``top_k`` tokens per model; ``n_shifts`` largest |Δp| tokens per variant.

    With ``out_dir``, every table (``out_format``: csv, json or parquet), ``provenance.json`` and
    the two PNG plots are written there, each file atomically (see :meth:`ColdStartResult.write`).

    ``measured`` maps a model argument (its ``str``) to a row :func:`~tokprobe.coldstart.replay.measure_row`
    measured elsewhere (a study unit on a cluster): that model is opened vocab-only and the row replayed.

    Returns a :class:`ColdStartResult`.
    """
    spec = parse_context(context)
    _check_options(top_k, n_shifts, out_dir, out_format)
    if chain and measured:
        raise InputError("chained keyword probabilities need the full models, not rows measured elsewhere")
    forms = check_forms(keyword_forms)
    kw_lists, kw_source = load_keyword_lists(keywords, languages)
    control, control_source = load_control_words(control_words)
    words = Words(kw_lists, kw_source, control, control_source, forms, bool(nlp_capitalized))
    sources = _sources(models)
    if isinstance(reference, (int, np.integer)) and not -len(sources) <= int(reference) < len(sources):
        raise InputError(f"reference index {reference} out of range for {len(sources)} models")
    runs, timings = _run_models(sources, spec, words, top_k, chain, threads, n_ctx, progress, measured or {})
    labels = unique_labels([r.label for r in runs])
    for r, lab in zip(runs, labels, strict=True):
        r.label = lab
    ref_index = _reference_index(reference, labels)
    result = _assemble(
        runs, ref_index, spec=spec, top_k=int(top_k), n_shifts=int(n_shifts), chain=chain, words=words,
        threads=threads, timings=timings,
    )
    if out_dir is not None:
        result.write(out_dir, fmt=out_format)
    return result


def _run_models(
    sources: list[tuple[str | None, Any]], spec: ContextSpec, words: Words, top_k: int, chain: bool,
    threads: int | None, n_ctx: int | None, progress: Progress | None, measured: Mapping[str, ColdRow],
) -> tuple[list[ModelRun], list[dict[str, Any]]]:
    """Measure every model in turn (names and paths loaded one at a time and closed)."""
    prev_threads = core.get_threads()
    if threads is not None:
        if int(threads) < 1:
            raise InputError(f"threads must be >= 1, not {threads}")
        core.set_threads(int(threads))
    kwargs: dict[str, Any] = {}
    if threads is not None:
        kwargs["threads"] = int(threads)
    if n_ctx is not None:
        kwargs["n_ctx"] = int(n_ctx)
    runs: list[ModelRun] = []
    timings: list[dict[str, Any]] = []
    total = len(sources)
    try:
        if progress is not None:
            progress(0, total)
        for i, (label, src) in enumerate(sources):
            t0 = time.perf_counter()
            own = not is_model(src)
            if own and str(src) in measured:
                model: Any = Replay(src, measured[str(src)])
            else:
                model = load(src, **kwargs) if own else src
            t_load = time.perf_counter() - t0
            try:
                runs.append(_measure(model, label, src, spec, words, top_k, chain))
            finally:
                if own:
                    model.close()
            timings.append({"model": runs[-1].label, "load_s": t_load, "total_s": time.perf_counter() - t0})
            if progress is not None:
                progress(i + 1, total)
    finally:
        if threads is not None:
            core.set_threads(prev_threads)
    return runs, timings


def _reference_index(reference: int | str, labels: list[str]) -> int:
    if isinstance(reference, (int, np.integer)) and not isinstance(reference, bool):
        if not -len(labels) <= int(reference) < len(labels):
            raise InputError(f"reference index {reference} out of range for {len(labels)} models")
        return int(reference) % len(labels)
    ref = str(reference)
    if ref in labels:
        return labels.index(ref)
    hits = [i for i, lab in enumerate(labels) if lab.endswith(ref) or Path(lab).stem == ref]
    if len(hits) == 1:
        return hits[0]
    raise InputError(f"reference {ref!r} is not one of the models: {', '.join(labels)}")


def _measure(
    model: Any, label: str | None, src: Any, spec: ContextSpec, words: Words, top_k: int, chain: bool
) -> ModelRun:
    sets = build_token_sets(
        model.vocab, words.keywords, words.control, keyword_forms=words.forms, nlp_capitalized=words.nlp_capitalized
    )
    ctx = resolve_context(model, spec)
    row = np.ascontiguousarray(model.logits_after(list(ctx.ids)), dtype=np.float32).reshape(-1)
    metrics = row_metrics(row, sets, top_k)
    chained = chain_table(model, ctx.ids, row, metrics.logsumexp, sets) if chain else None
    name = label or str(getattr(model, "name", None) or Path(str(src)).stem)
    return ModelRun(
        label=name,
        source=str(getattr(model, "path", src)),
        context=ctx,
        sets=sets,
        metrics=metrics,
        row=row,
        info=_info(model),
        sha256=str(getattr(model, "sha256", "") or ""),
        chained=chained,
    )


PAIR_COLUMNS = [
    "model", "reference", "same_vocab", "kl", "kl_reverse", "js", "entropy_ref", "entropy_var",
    "top1_agree", "top5_overlap", "top10_overlap", "spearman_keywords", "n_keyword_tokens",
    "d_pkp", "d_stp", "d_nlp", "d_indent", "pkp_ratio", "pkp_ratio_lo", "pkp_ratio_hi",
]  # fmt: skip
SHIFT_COLUMNS = [
    "model", "reference", "rank", "token_id", "text", "class", "kind", "p_ref", "p_var", "delta_p", "log_ratio",
]  # fmt: skip


def _shift_frame(r: ModelRun, ref: ModelRun, n_shifts: int) -> pd.DataFrame:
    """The ``n_shifts`` tokens whose probability moved most from the reference to ``r``."""
    p_ref = probabilities(ref.row, ref.metrics.logsumexp)
    p_var = probabilities(r.row, r.metrics.logsumexp)
    ids = largest_shifts(p_ref, p_var, n_shifts)
    return pd.DataFrame(
        {
            "model": r.label,
            "reference": ref.label,
            "rank": np.arange(1, ids.size + 1),
            "token_id": ids,
            "text": [display_text(r.sets, int(t)) for t in ids],
            "class": r.sets.class_of(ids),
            "kind": r.sets.kind[ids],
            "p_ref": p_ref[ids],
            "p_var": p_var[ids],
            "delta_p": p_var[ids] - p_ref[ids],
            "log_ratio": (np.asarray(r.row, np.float64)[ids] - r.metrics.logsumexp)
            - (np.asarray(ref.row, np.float64)[ids] - ref.metrics.logsumexp),
        }
    )


def _comparisons(
    runs: list[ModelRun], ref: ModelRun, n_shifts: int
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, dict[str, Any]]]:
    """(pairwise, shifts, pairwise row by model label) of every model against the reference."""
    pair_rows, shift_frames = [], []
    pair_by_label: dict[str, dict[str, Any]] = {}
    for r in runs:
        if r is ref:
            continue
        same = r.sets.vocab_digest == ref.sets.vocab_digest and r.sets.n_vocab == ref.sets.n_vocab
        row: dict[str, Any] = {"model": r.label, "reference": ref.label, "same_vocab": same}
        if same:
            row.update(divergence(ref.row, r.row))
            row["spearman_keywords"] = spearman(ref.metrics.keyword_p, r.metrics.keyword_p)
            row["n_keyword_tokens"] = int(r.sets.keyword_ids.size)
            kw = r.metrics.keyword_p
            row.update(ratio_interval(kw, ref.metrics.keyword_p, draws(kw.size)))
            shift_frames.append(_shift_frame(r, ref, n_shifts))
        for key in ("pkp", "stp", "nlp", "indent"):
            row[f"d_{key}"] = getattr(r.metrics, key) - getattr(ref.metrics, key)
        pair_rows.append(row)
        pair_by_label[r.label] = row
    pairwise = pd.DataFrame(pair_rows).reindex(columns=PAIR_COLUMNS)
    shifts = pd.concat(shift_frames, ignore_index=True) if shift_frames else pd.DataFrame(columns=SHIFT_COLUMNS)
    return pairwise, shifts, pair_by_label


def _summary_row(r: ModelRun, is_ref: bool, pr: dict[str, Any]) -> dict[str, Any]:
    m, sets, info = r.metrics, r.sets, r.info
    top_ids = m.top_ids
    top_p = np.exp(m.top_logprobs)
    srow: dict[str, Any] = {
        "model": r.label,
        "file_type": info.get("file_type"),
        "bits_per_weight": info.get("bits_per_weight"),
        "file_size_mb": (info.get("file_size") or 0) / 1e6 if info.get("file_size") else None,
        "context": r.context.label,
        "context_ids": " ".join(str(i) for i in r.context.ids),
        "pkp": m.pkp,
        "kap": m.kap,
        **_keyword_intervals(m),
        "stp": m.stp,
        "nlp": m.nlp,
        "indent_p": m.indent,
        "control_p": m.control,
        "entropy": m.entropy,
        "top1_id": int(top_ids[0]),
        "top1_text": display_text(sets, int(top_ids[0])),
        "top1_p": float(top_p[0]),
        "kl_to_ref": 0.0 if is_ref else pr.get("kl", np.nan),
        "kl_reverse_to_ref": 0.0 if is_ref else pr.get("kl_reverse", np.nan),
        "js_to_ref": 0.0 if is_ref else pr.get("js", np.nan),
        "spearman_kw_to_ref": 1.0 if is_ref else pr.get("spearman_keywords", np.nan),
    }
    for q in HOLD_LEVELS:
        srow[f"pkp_n{int(round(q * 100))}"] = m.pkp_holders[q]
    for q in HOLD_LEVELS:
        srow[f"stp_n{int(round(q * 100))}"] = m.stp_holders[q]
    srow.update(sets.sizes())
    if r.chained is not None:
        pk = chained_mass(r.chained)
        srow["pkp_chained"] = pk
        srow["kap_chained"] = pk / sets.n_keywords if sets.n_keywords else np.nan
        srow["n_chain_rows"] = int(r.chained.attrs.get("n_prefix_rows", 0))
    srow["sha256"] = r.sha256
    srow["vocab_digest"] = sets.vocab_digest
    srow["base_vocab_digest"] = info.get("base_vocab_digest")
    return srow


def _keyword_intervals(m: RowMetrics) -> dict[str, float]:
    """``pkp_lo/hi`` and ``kap_lo/hi``: the keyword-set bootstrap (:mod:`.intervals`)."""
    lo, hi = mass_interval(m.keyword_p, m.pkp, draws(m.keyword_p.size))
    scale = m.kap / m.pkp if m.pkp > 0 else math.nan
    return {"pkp_lo": lo, "pkp_hi": hi, "kap_lo": lo * scale, "kap_hi": hi * scale}


def _language_rows(r: ModelRun) -> list[dict[str, Any]]:
    m, sets = r.metrics, r.sets
    rows = []
    for lang, (lp, lk) in m.language.items():
        ids = sets.language_ids[lang]
        row: dict[str, Any] = {
            "model": r.label,
            "language": lang,
            "pkp": lp,
            "kap": lk,
            "n_keywords": sets.language_n_keywords.get(lang, 0),
            "n_keyword_tokens": int(ids.size),
        }
        if ids.size:
            pos = np.searchsorted(sets.keyword_ids, ids)
            best = int(pos[np.argmax(m.keyword_p[pos])])
            row.update(
                top_keyword_id=int(sets.keyword_ids[best]),
                top_keyword_text=sets.texts[int(sets.keyword_ids[best])],
                top_keyword_p=float(m.keyword_p[best]),
            )
        rows.append(row)
    return rows


def _top_frame(r: ModelRun, meta: pd.DataFrame) -> pd.DataFrame:
    m, sets = r.metrics, r.sets
    top_ids = m.top_ids
    kw = set(int(t) for t in sets.keyword_ids)
    return pd.DataFrame(
        {
            "model": r.label,
            "rank": np.arange(1, top_ids.size + 1),
            "token_id": top_ids,
            "text": [display_text(sets, int(t)) for t in top_ids],
            "p": np.exp(m.top_logprobs),
            "logprob": m.top_logprobs,
            "class": sets.class_of(top_ids),
            "kind": sets.kind[top_ids],
            "keyword": [int(t) in kw for t in top_ids],
            "stp": sets.stp_mask[top_ids],
            "nlp": np.isin(top_ids, sets.nlp_ids),
            "indent": sets.indent_mask[top_ids],
            "languages": [meta.languages.get(int(t), "") if int(t) in kw else "" for t in top_ids],
        }
    )


def _keyword_frame(r: ModelRun, meta: pd.DataFrame) -> pd.DataFrame:
    m, sets = r.metrics, r.sets
    return pd.DataFrame(
        {
            "model": r.label,
            "token_id": sets.keyword_ids.astype(np.int64),
            "text": [sets.texts[int(t)] for t in sets.keyword_ids],
            "keywords": meta.keywords.to_numpy(),
            "forms": meta.forms.to_numpy(),
            "languages": meta.languages.to_numpy(),
            "p": m.keyword_p,
            "logprob": np.log(np.maximum(m.keyword_p, np.finfo(np.float64).tiny)),
            "rank": m.keyword_rank,
        }
    )


def _settings(runs: list[ModelRun], ref: ModelRun, s: dict[str, Any]) -> dict[str, Any]:
    first_sets = runs[0].sets
    words: Words = s["words"]
    return {
        "analysis": "coldstart",
        "context": s["spec"].spec,
        "context_default": DEFAULT_CONTEXT,
        "top_k": s["top_k"],
        "n_shifts": s["n_shifts"],
        "chain": bool(s["chain"]),
        "chain_rule": CHAIN_RULE if s["chain"] else None,
        "keyword_forms": list(first_sets.keyword_forms),
        "keywords_source": words.keywords_source,
        "keywords_digest": digest_words(words.keywords),
        "languages": list(words.keywords),
        "n_keywords": int(first_sets.n_keywords),
        "control_words_source": words.control_source,
        "control_words_digest": digest_words(words.control),
        "n_control_words": len(words.control),
        "rules": first_sets.rules,
        "hold_levels": list(HOLD_LEVELS),
        "pkp_interval": INTERVAL_RULE,
        "reference": ref.label,
        "threads": s["threads"],
        "core_threads": core.get_threads(),
        "seed": sorted({r.info.get("seed") for r in runs if r.info.get("seed") is not None}) or None,
        "timings": s["timings"],
    }


def _assemble(runs: list[ModelRun], ref_index: int, **s: Any) -> ColdStartResult:
    ref = runs[ref_index]
    pairwise, shifts, pair_by_label = _comparisons(runs, ref, s["n_shifts"])
    summary_rows: list[dict[str, Any]] = []
    lang_rows: list[dict[str, Any]] = []
    class_rows: list[dict[str, Any]] = []
    top_frames: list[pd.DataFrame] = []
    kw_frames: list[pd.DataFrame] = []
    chain_frames: list[pd.DataFrame] = []
    for r in runs:
        summary_rows.append(_summary_row(r, r is ref, pair_by_label.get(r.label, {})))
        lang_rows.extend(_language_rows(r))
        meta = _token_meta(r.sets)
        top_frames.append(_top_frame(r, meta))
        kw_frames.append(_keyword_frame(r, meta))
        class_rows.extend({"model": r.label, "class": name, "p": p} for name, p in r.metrics.class_mass.items())
        if r.chained is not None:
            chain_frames.append(r.chained.assign(model=r.label)[["model", *r.chained.columns]])
    sizes = {r.sets.n_vocab for r in runs}
    models_prov = {
        r.label: {
            "source": r.source,
            "sha256": r.sha256,
            "vocab_digest": r.sets.vocab_digest,
            "context": r.context.to_dict(),
            "info": r.info,
        }
        for r in runs
    }
    return ColdStartResult(
        summary=pd.DataFrame(summary_rows),
        per_language=pd.DataFrame(lang_rows),
        top_tokens=pd.concat(top_frames, ignore_index=True),
        keyword_probs=pd.concat(kw_frames, ignore_index=True),
        pairwise=pairwise,
        shifts=shifts,
        class_mass=pd.DataFrame(class_rows, columns=["model", "class", "p"]),
        chained=pd.concat(chain_frames, ignore_index=True) if chain_frames else None,
        provenance=Provenance(settings=_settings(runs, ref, s), models=models_prov),
        logits=np.stack([r.row for r in runs]) if len(sizes) == 1 else np.zeros((0, 0), np.float32),
    )
