"""Run a study: build the models it names, run every analysis as a resumable step, write a report.

Steps, in order (each in ``<run>/steps/<name>/``, skipped when its inputs are unchanged):

``models``      resolve every model (building quant ladders with ``tokprobe.models.ladder``), and
                record path, sha256, size, bits per weight and file type;
``vocab``       vocabulary analysis of the study's tokenizers (+ fetched vocab-only ones);
``coldstart``   cold-start distributions, one table set per group;
``compare``     reference vs variants over the corpus, one result set per group;
``complete``    completion probes (greedy line/block completions in every language), per group;
``codegen``     HumanEval pass@k per model: each group's reference first, its variants only when
                the reference passes at least ``codegen.min_reference_passes`` problems (the
                gate, recorded in ``gate.json``; 0 turns it off);
then the report (always re-rendered; cheap).
"""

from __future__ import annotations

import functools
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import io, locks
from ..codegen import CodegenResult, CodegenSettings, Limits, Sandbox, load_problems, run_codegen_many
from ..coldstart import coldstart
from ..compare import compare
from ..complete import ProbeSettings, complete
from ..corpus import Corpus, load_corpus
from ..errors import InputError
from ..explore import write_explorer
from ..models import ladder, model_info, resolve
from ..provenance import Provenance, available_cores
from ..report import render_report
from ..vocab import analyze
from ..vocab.obtain import Obtained, obtain_vocabs
from . import split
from .config import StudyConfig
from .executors import LocalExecutor
from .steps import StepRecord, run_step, verify_steps
from .units import remove_units, slug

Log = Callable[[str], None]
ProgressFactory = Callable[[str, str], Any]  # (description, unit) -> context manager yielding update()

REPORT_FILES = ("report.html", "report.md")
STEPS = ("models", "vocab", "coldstart", "compare", "complete", "codegen")


@dataclass
class StudyResult:
    run_dir: Path
    config: StudyConfig
    steps: list[StepRecord] = field(default_factory=list)
    report_html: Path | None = None
    report_md: Path | None = None

    def timings(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"step": s.name, "seconds": round(s.seconds, 2), "skipped": s.skipped, "key": s.key} for s in self.steps]
        )


class _NullProgress:
    def __enter__(self) -> Callable[[int, int], None]:
        return lambda done, total: None

    def __exit__(self, *exc: Any) -> None:
        return None


def _null_factory(description: str, unit: str = "") -> Any:
    return _NullProgress()


def _locked(fn: Callable[..., StudyResult]) -> Callable[..., StudyResult]:
    """Hold the run directory's lock (tokprobe.locks) while ``fn`` runs: one study per directory."""

    @functools.wraps(fn)
    def run(config: StudyConfig, run_dir: str | os.PathLike[str], **kwargs: Any) -> StudyResult:
        with locks.hold(run_dir, "study run"):
            return fn(config, run_dir, **kwargs)

    return run


def render_checked(run: Path) -> tuple[Path, Path]:
    """Check every finished step's files, then render the report; when either fails, no old report is left
    looking current."""
    try:
        verify_steps(run)
        return render_report(run)
    except BaseException:
        _remove_report(run)
        raise


def _remove_report(run: Path) -> None:
    for name in REPORT_FILES:
        (run / name).unlink(missing_ok=True)


@_locked
def run_study(
    config: StudyConfig,
    run_dir: str | os.PathLike[str],
    *,
    steps: tuple[str, ...] = STEPS,
    log: Log | None = None,
    progress: ProgressFactory | None = None,
    executor: Any = None,
) -> StudyResult:
    """Run ``config`` into ``run_dir`` (created; re-runs skip finished steps) and render the report.

    ``executor``: None (or a :class:`~tokprobe.study.executors.LocalExecutor`) runs every step whole, here;
    with a :class:`~tokprobe.study.executors.RayExecutor` every step still runs here, in order, but splits
    into units that run as Ray tasks and are joined here (:mod:`tokprobe.study.split`): same run directory,
    same keys, same numbers.
    """
    for s in steps:
        if s not in STEPS:
            raise InputError(f"unknown study step {s!r}; steps are {', '.join(STEPS)}")
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    log = log or (lambda msg: None)
    threads = config.threads or available_cores()
    # On a cluster the workers report only their units' results (a line each): no progress bars from them.
    cluster = None
    if executor is not None and not isinstance(executor, LocalExecutor):
        cluster = split.Cluster(run, executor, config, threads, log)
    progress = _null_factory if cluster is not None or progress is None else progress
    io.write_json(run / "config.json", config.to_dict())
    _remove_report(run)  # re-rendered at the end: a step that fails must not leave the old one looking current
    result = StudyResult(run, config)
    t_start = time.perf_counter()

    # What keys each step. A step runs when step() is called, so each lambda reads the inputs of its own step.
    inputs: dict[str, Any] = _models_inputs(config)

    def step(name: str, step_inputs: dict[str, Any], fn: Callable[[Path], dict[str, Any]]) -> StepRecord:
        rec = run_step(run, name, step_inputs, fn, log=log)
        result.steps.append(rec)
        if cluster is not None and not rec.skipped:
            remove_units(run, name)
        return rec

    models_step = step("models", inputs, lambda d: _step_models(config, d, threads, progress, cluster, inputs))
    table = io.read_frame(models_step.directory / "models.csv")
    sha = dict(zip(table["model"], table["sha256"], strict=True))
    paths = dict(zip(table["model"], table["path"], strict=True))

    if "vocab" in steps and config.vocab.enabled:
        # Every tokenizer that can be had offline, fetched on first use; the report lists the rest and why.
        obtained = obtain_vocabs(fetch=config.vocab.fetch) if config.vocab.include_fetched else Obtained()
        fetched = obtained.names
        inputs = {"tokenizers": [sha[m] for m in _vocab_tokenizers(config)], "extra": config.vocab.tokenizers,
                  "fetched": fetched, "corpus": load_corpus(config.compare.corpus or None).digest}
        step("vocab", inputs, lambda d: _step_vocab(config, d, paths, fetched, progress, obtained.missing))
    if "coldstart" in steps and config.coldstart.enabled:
        inputs = {"groups": [[sha[m] for m in g.models] for g in config.groups],
                  "settings": config.coldstart.__dict__, "threads": threads, "seed": config.seed}
        step("coldstart", inputs,
             (lambda d: split.coldstart_groups(cluster, inputs, paths, d)) if cluster is not None else
             (lambda d: _step_coldstart(config, d, paths, threads, progress)))
    if "compare" in steps and config.compare.enabled:
        corpus = _compare_corpus(config)  # loaded once: its digest keys the step, the step reads it
        inputs = {"groups": [[sha[m] for m in g.models] for g in config.groups],
                  "settings": config.compare.__dict__, "corpus": corpus.digest, "threads": threads}
        step("compare", inputs, lambda d: _step_compare(config, d, corpus, threads, progress, cluster, inputs, paths))
    if "complete" in steps and config.complete.enabled:
        ccorpus = load_corpus(config.compare.corpus or None)
        inputs = {"groups": [[sha[m] for m in g.models] for g in config.groups], "settings": config.complete.__dict__,
                  "corpus": ccorpus.digest, "seed": config.seed}
        step("complete", inputs,
             (lambda d: split.complete_groups(cluster, inputs, ccorpus, _probe_settings(config, threads), paths, d))
             if cluster is not None else (lambda d: _step_complete(config, d, ccorpus, threads, progress)))
    if "codegen" in steps and config.codegen.enabled:
        models = _codegen_models(config)
        inputs = {"models": [sha[m] for m in models], "settings": config.codegen.__dict__, "seed": config.seed}
        step("codegen", inputs, lambda d: _step_codegen(config, d, models, paths, threads, progress, cluster, inputs))

    io.write_json(run / "run.json", {
        "config_source": config.source,
        "threads": threads,
        "seed": config.seed,
        "steps": [{"step": s.name, "key": s.key, "seconds": s.seconds, "skipped": s.skipped} for s in result.steps],
        "total_seconds": time.perf_counter() - t_start,
        "provenance": Provenance(settings={"study": config.name, "threads": threads, "seed": config.seed}).to_dict(),
        "platform": platform.platform(),
    })
    if any((run / "steps" / "compare").glob("group*/tokens.parquet")):  # the report links to it
        write_explorer(run, title=f"tokprobe explorer: {config.name}")
    result.report_html, result.report_md = render_checked(run)
    return result


# ---------------------------------------------------------------------------------------------
# models


def _models_inputs(config: StudyConfig) -> dict[str, Any]:
    # Named and path models are keyed by what resolves them; the step itself records hashes.
    out: dict[str, Any] = {"groups": [[g.technique, g.reference, g.variants, g.ladder_source, g.ladder_types]
                                      for g in config.groups]}
    files = {}
    for m in config.models():
        p = Path(m)
        if p.is_file():
            st = p.stat()
            files[m] = [st.st_size, st.st_mtime_ns]
    out["files"] = files
    return out


def _step_models(config: StudyConfig, d: Path, threads: int, progress: ProgressFactory,
                 cluster: split.Cluster | None = None, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    if cluster is not None:  # each level a Ray task; the loop below then finds every file built
        split.quantize_levels(cluster, inputs or {})
    for g in config.groups:
        if g.ladder_source:
            with progress(f"quantizing {g.ladder_source}", "tensors") as update:
                ladder(g.ladder_source, g.ladder_types, progress=update, threads=threads)
    rows = []
    for g in config.groups:
        for role, m in [("reference", g.reference)] + [("variant", v) for v in g.variants]:
            path = resolve(m)
            info = model_info(path)
            rows.append({
                "model": m, "group": g.name, "technique": g.technique, "role": role, "path": str(path),
                "sha256": info.sha256, "file_size": info.file_size, "bits_per_weight": info.bits_per_weight,
                "file_type": info.file_type, "arch": info.arch, "n_params": info.n_params, "n_vocab": info.n_vocab,
            })
    df = pd.DataFrame(rows)
    io.write_frame(df, d / "models.csv")
    return {"n_models": int(df["model"].nunique())}


# ---------------------------------------------------------------------------------------------
# vocab


def _vocab_tokenizers(config: StudyConfig) -> list[str]:
    # One per distinct model file set: a quant ladder shares one tokenizer, so its reference stands for it.
    return [g.reference for g in config.groups]


def _compare_corpus(config: StudyConfig) -> Corpus:
    corpus = load_corpus(config.compare.corpus or None)
    if config.compare.bytes_per_language:
        corpus = corpus.balanced(config.compare.bytes_per_language)
    return corpus


def _step_vocab(config: StudyConfig, d: Path, paths: dict[str, str], fetched: list[str],
                progress: ProgressFactory, unavailable: list[dict[str, str]] | None = None) -> dict[str, Any]:
    names = list(dict.fromkeys(_vocab_tokenizers(config) + list(config.vocab.tokenizers) + fetched))
    specs = [paths.get(n, n) for n in names]
    corpus = load_corpus(config.compare.corpus or None)
    with progress("vocabulary analysis", "tokenizers") as update:
        report = analyze(specs, corpus=corpus, names=names, progress=update)
    report.save(d, fmt="parquet")
    cov = report.coverage_table()
    io.write_frame(cov, d / "coverage_table.csv")
    missing = pd.DataFrame(unavailable or [], columns=["name", "source", "reason"])
    io.write_frame(missing, d / "unavailable.csv")  # tokenizers the study could not get, and why
    return {"tokenizers": names, "unavailable": missing.to_dict("records")}


# ---------------------------------------------------------------------------------------------
# cold start


def _step_coldstart(config: StudyConfig, d: Path, paths: dict[str, str], threads: int,
                    progress: ProgressFactory) -> dict[str, Any]:
    out: dict[str, str] = {}
    for i, g in enumerate(config.groups):
        with progress(f"cold start: {g.name}", "models") as update:
            res = coldstart({m: paths[m] for m in g.models}, context=config.coldstart.context,
                            top_k=config.coldstart.top_k, threads=threads, progress=update)
        gdir = d / f"group{i}"
        res.write(gdir, fmt="parquet", plots=True)
        out[g.name] = str(gdir.relative_to(d))
    return {"groups": out}


# ---------------------------------------------------------------------------------------------
# compare


def _step_compare(config: StudyConfig, d: Path, corpus: Any, threads: int, progress: ProgressFactory,
                  cluster: split.Cluster | None = None, inputs: dict[str, Any] | None = None,
                  paths: dict[str, str] | None = None) -> dict[str, Any]:
    """Each group compared into ``d/group<i>``; on a cluster its parts run as units first and are joined
    there, so the comparison below only gathers them (with the mode every part used)."""
    modes = [config.compare.mode] * len(config.groups)
    if cluster is not None:
        plans = split.compare_modes(config, paths or {})
        modes = [p.mode for p in plans]
        split.compare_parts(cluster, inputs or {}, corpus, plans, d)
    out: dict[str, str] = {}
    for i, g in enumerate(config.groups):
        gdir = d / f"group{i}"
        with progress(f"compare: {g.name}", "tok") as update:
            # Names (not paths) so that tables are labelled as in the config; resolve() maps them.
            res = compare(g.reference, list(g.variants), corpus, run_dir=gdir, progress=update,
                          **config.compare_options(modes[i], threads))
        res.save(gdir)
        # Result rows follow the variants' order; keep the config's names for the report to join on.
        io.write_json(gdir / "models.json", {"reference": g.reference, "variants": list(g.variants)})
        out[g.name] = str(gdir.relative_to(d))
    return {"groups": out}


# ---------------------------------------------------------------------------------------------
# complete


def _probe_settings(config: StudyConfig, threads: int) -> ProbeSettings:
    c = config.complete
    return ProbeSettings(mode=c.mode, probes_per_language=c.probes_per_language, context=c.context,
                         max_tokens=c.max_tokens or None, seed=config.seed, threads=threads)


def _step_complete(config: StudyConfig, d: Path, corpus: Corpus, threads: int,
                   progress: ProgressFactory) -> dict[str, Any]:
    """Completion probes per group (the compare corpus, every file): tables and complete.png per group."""
    settings = _probe_settings(config, threads)
    out: dict[str, str] = {}
    for i, g in enumerate(config.groups):
        gdir = d / f"group{i}"
        with progress(f"complete: {g.name}", "probes") as update:
            res = complete(g.reference, list(g.variants), corpus=corpus, settings=settings, progress=update)
        res.save(gdir, plot=True)
        io.write_json(gdir / "models.json", {"reference": g.reference, "variants": list(g.variants)})
        out[g.name] = str(gdir.relative_to(d))
    return {"groups": out}


# ---------------------------------------------------------------------------------------------
# codegen


def _codegen_models(config: StudyConfig) -> list[str]:
    if config.codegen.models == "all":
        return config.models()
    seen: dict[str, None] = {}
    for g in config.groups:
        seen.setdefault(g.reference, None)
        seen.setdefault(g.variants[-1], None)
    return list(seen)


def _step_codegen(config: StudyConfig, d: Path, models: list[str], paths: dict[str, str], threads: int,
                  progress: ProgressFactory, cluster: split.Cluster | None = None,
                  inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """References first; a group's variants only when its reference passes the gate (see :func:`_gate`).

    On a cluster each model's problems run first as shards (units) whose samples are joined into the model's
    run directory, so that the pass here only scores them."""
    problems = load_problems(limit=config.codegen.limit or None)
    settings = CodegenSettings(max_tokens=config.codegen.max_tokens, seed=config.seed,
                               prompt_mode=config.codegen.prompt_mode)

    def keep_problems(m: str, res: CodegenResult) -> None:
        io.write_frame(res.problems.assign(model=m), d / slug(m) / "problems.parquet")

    results: dict[str, CodegenResult] = {}

    def run(chosen: list[str]) -> None:
        if not chosen:
            return
        if cluster is not None:
            split.codegen_shards(cluster, inputs or {}, chosen, paths, problems, settings, d)
        runs = run_codegen_many({m: paths[m] for m in chosen}, problems, settings, sandbox=box,
                                load_options={"threads": threads}, run_dir=lambda m: d / slug(m), plot=False,
                                progress=lambda m: progress(f"codegen: {m}", "problems"), on_result=keep_problems)
        results.update(runs.results)

    box = Sandbox(Limits(), jobs=threads)
    try:
        run(list(dict.fromkeys(g.reference for g in config.groups)))  # the references always run, first
        gate = _gate(config, results)
        closed = {r["group"] for r in gate if not r["variants_run"]}
        open_models = {m for g in config.groups if g.name not in closed for m in g.models}
        run([m for m in models if m not in results and m in open_models])
    finally:
        box.close()
    io.write_json(d / "gate.json", {"min_reference_passes": config.codegen.min_reference_passes, "groups": gate})
    rows = []
    for m in [m for m in models if m in results] + [m for m in results if m not in models]:
        res = results[m]
        for k, p in zip(res.pass_at_k["k"].tolist(), res.pass_at_k["pass_at_k"].tolist(), strict=True):
            rows.append({"model": m, "k": int(k), "pass_at_k": float(p), "n_problems": int(len(res.problems)),
                         "n_passed": _passed(res)})
    io.write_frame(pd.DataFrame(rows), d / "pass_at_k.csv")
    return {"models": list(results), "n_problems": len(problems),
            "gated_groups": sorted(closed), "min_reference_passes": config.codegen.min_reference_passes}


def _passed(res: CodegenResult) -> int | None:
    """Problems with at least one passing sample."""
    return int((res.problems["c"] > 0).sum()) if "c" in res.problems else None


def _gate(config: StudyConfig, results: dict[str, CodegenResult]) -> list[dict[str, Any]]:
    """Per group: the reference's passes and whether its variants run (``passes >= min_reference_passes``).

    Fewer passes than the gate means HumanEval at this size cannot tell the variants apart (a
    variant can only lose what the reference solves), so their generation time is not spent.
    """
    need = config.codegen.min_reference_passes
    out = []
    for g in config.groups:
        res = results[g.reference]
        passed = _passed(res) or 0
        out.append({"group": g.name, "reference": g.reference, "n_passed": passed,
                    "n_problems": int(len(res.problems)), "min_reference_passes": need,
                    "variants_run": passed >= need, "variants": list(g.variants)})
    return out
