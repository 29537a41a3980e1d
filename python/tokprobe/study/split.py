"""How each study step splits into units on a cluster, and how the step joins what they wrote.

Used only with a Ray executor (:mod:`tokprobe.study.units`); the local runner runs every step whole.

=============  ==========================================================================================
step           units (one Ray task each)
=============  ==========================================================================================
models         quantize one ladder level (into the shared model cache); the step then records the models
vocab          none: it runs on the starting machine (vocab-only loads: 24 tokenizers take half a minute)
coldstart      one model's cold-start measurement; the step assembles each group from its models
compare        one part of a group's windows (:func:`tokprobe.compare.compare_part`: contiguous windows, about
               equal scored tokens); the step joins the parts' chunks (the reference caches into the shared
               reference cache, as a local run leaves them) and gathers the group as a whole run
complete       one model's probes (the reference first: its first-token distributions go to the variants)
codegen        one shard of the HumanEval problems for one model (the references first, then the variants
               the gate lets through); the step joins the shards' samples and scores every model
=============  ==========================================================================================

Where a unit computes what the whole step computes for the same piece (every compare window is decoded
on its own, every HumanEval sample has its own seed, every model's completions are one pass), the joined
step's files are the local runner's, number for number (tests/test_study_ray.py).

Every unit asks Ray for the memory the planner estimates for the models it loads (one at a time, except a
lock-step compare part), so Ray does not place more full loads on a node than fit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import io
from ..cache import reference_dir
from ..codegen import CodegenSettings, Limits, Problem, Sandbox, full_data_digest, load_problems, run_codegen_many
from ..coldstart import ColdRow, coldstart, measure_row
from ..compare import compare_part, join_parts
from ..compare.memory_plan import plan_memory
from ..compare.settings import DEFAULT_BATCH
from ..complete import FirstTokens, ModelPass, ProbeSettings, assemble, complete_model, plan_probes
from ..corpus import Corpus
from ..hashing import stable_hash
from ..models import label_for, ladder, unique_labels
from ..models.memory import estimate_file
from .config import StudyConfig
from .units import Unit, run_units, slug, unit_dir

Log = Callable[[str], None]


@dataclass
class Cluster:
    """What every split step needs: the run, the executor, the config, the threads per task, the log."""

    run: Path
    executor: Any
    config: StudyConfig
    threads: int
    log: Log

    @property
    def width(self) -> int:
        """Tasks of ``threads`` CPUs the cluster runs at once."""
        return int(self.executor.parallelism(self.threads))

    def units(self, units: Sequence[Unit]) -> list[dict[str, Any]]:
        """Run ``units``; the info each returned, in order."""
        return [rec.info for rec in run_units(self.executor, self.run, units, self.log)]


def _model_memory(path: str, n_ctx: int) -> int:
    """Bytes the model at ``path`` needs loaded alone at ``n_ctx`` (:mod:`tokprobe.models.memory`)."""
    return estimate_file(path, n_ctx=n_ctx, n_batch=min(512, n_ctx)).total


# -- models ----------------------------------------------------------------------------------------------
def _quantize_level(source: str, type_name: str, threads: int, d: Path) -> dict[str, Any]:
    return {"path": str(ladder(source, [type_name], threads=threads)[type_name])}


def quantize_levels(c: Cluster, inputs: dict[str, Any]) -> None:
    """Every ladder level of the config, one unit each (each reads the source and writes one file)."""
    levels = dict.fromkeys((g.ladder_source, t) for g in c.config.groups if g.ladder_source for t in g.ladder_types)
    units = [Unit(f"models/{slug(source)}-{t}", {**inputs, "source": source, "type": t},
                  functools.partial(_quantize_level, source, t, c.threads), cpus=c.threads)
             for source, t in levels]
    if units:
        c.units(units)


# -- cold start --------------------------------------------------------------------------------------------
def _coldstart_model(path: str, context: str, threads: int, d: Path) -> dict[str, Any]:
    measure_row(path, context=context, threads=threads).save(d / "row.npz")
    return {"model": path}


def coldstart_groups(c: Cluster, inputs: dict[str, Any], paths: dict[str, str], d: Path) -> dict[str, Any]:
    """One unit per distinct model of the config (its forward pass); each group analysed from its rows."""
    cs = c.config.coldstart
    models = list(dict.fromkeys(m for g in c.config.groups for m in g.models))
    names = {m: f"coldstart/{i}-{slug(Path(m).stem)}" for i, m in enumerate(models)}
    c.units([Unit(names[m], {**inputs, "model": m},
                  functools.partial(_coldstart_model, paths[m], cs.context, c.threads),
                  memory=_model_memory(paths[m], 512), cpus=c.threads)
             for m in models])
    rows = {paths[m]: ColdRow.load(unit_dir(c.run, names[m]) / "row.npz") for m in models}
    out: dict[str, str] = {}
    for i, g in enumerate(c.config.groups):
        res = coldstart({m: paths[m] for m in g.models}, context=cs.context, top_k=cs.top_k, threads=c.threads,
                        measured=rows)
        gdir = d / f"group{i}"
        res.write(gdir, fmt="parquet", plots=True)
        out[g.name] = str(gdir.relative_to(d))
    return {"groups": out}


# -- compare -----------------------------------------------------------------------------------------------
def compare_modes(config: StudyConfig, paths: dict[str, str]) -> list[Any]:
    """Each group's memory plan, made once on the driver: every part must key its stores with the same mode."""
    s = config.compare
    return [plan_memory([paths[m] for m in g.models], mode=s.mode, n_ctx=s.n_ctx, n_batch=min(DEFAULT_BATCH, s.n_ctx),
                        budget=None) for g in config.groups]


def _compare_part(config: StudyConfig, group: int, corpus: Corpus, mode: str, part: int, parts: int, threads: int,
                  d: Path) -> dict[str, Any]:
    g = config.groups[group]
    return compare_part(g.reference, list(g.variants), corpus, part=part, parts=parts, run_dir=d / "run",
                        cache_dir=d / "reference", **config.compare_options(mode, threads))


def compare_parts(c: Cluster, inputs: dict[str, Any], corpus: Corpus, plans: list[Any], d: Path) -> None:
    """Every group's parts, run as units and joined into ``d/group<i>`` and the shared reference cache."""
    parts = max(1, c.width)
    units = [Unit(f"compare/group{i}/part{k}", {**inputs, "group": i, "part": k, "parts": parts},
                  functools.partial(_compare_part, c.config, i, corpus, plans[i].mode, k, parts, c.threads),
                  memory=int(plans[i].peak), cpus=c.threads)
             for i in range(len(c.config.groups)) for k in range(parts)]
    c.units(units)
    for i in range(len(c.config.groups)):
        where = [unit_dir(c.run, f"compare/group{i}/part{k}") for k in range(parts)]
        join_parts([(w / "run", w / "reference") for w in where], d / f"group{i}", reference_dir())


# -- complete ----------------------------------------------------------------------------------------------
def _complete_model(spec: str, label: str, corpus: Corpus, settings: ProbeSettings, ref_dir: Path | None,
                    d: Path) -> dict[str, Any]:
    """One model's probes; a variant reads the reference's first tokens from the reference unit's directory."""
    _, plan = plan_probes(corpus, settings)
    first = FirstTokens() if ref_dir is None else FirstTokens.load(ref_dir / "first.npz")
    digest = "" if ref_dir is None else str(io.read_json(ref_dir / "pass.json")["vocab_digest"])
    mp = complete_model(spec, label, plan, settings, first, is_ref=ref_dir is None, ref_digest=digest)
    if ref_dir is None:
        first.save(d / "first.npz")
    io.write_json(d / "pass.json", {"label": mp.label, "cost": mp.cost, "info": mp.info,
                                    "vocab_digest": mp.vocab_digest})
    io.write_json(d / "rows.json", mp.rows)  # floats round-trip; NaN is written as null (see _load_pass)
    return {"model": label, "n_probes": len(mp.rows)}


def _load_pass(d: Path) -> ModelPass:
    meta = io.read_json(d / "pass.json")
    # A probe row has no None: a null in the file was a NaN (an undefined metric, e.g. ast_ok outside Python).
    rows = [{k: math.nan if v is None else v for k, v in r.items()} for r in io.read_json(d / "rows.json")]
    return ModelPass(meta["label"], rows, meta["cost"], meta["info"], meta["vocab_digest"])


def complete_groups(c: Cluster, inputs: dict[str, Any], corpus: Corpus, settings: ProbeSettings,
                    paths: dict[str, str], d: Path) -> dict[str, Any]:
    """Each group's reference as a unit, then its variants as units; each group assembled and saved."""
    groups = c.config.groups
    labels = [unique_labels([label_for(m) for m in g.models]) for g in groups]  # as complete() labels them
    need = {m: _model_memory(paths[m], max(1024, settings.context + settings.tokens)) for g in groups
            for m in g.models}
    ref_names = [f"complete/group{i}/0-reference" for i in range(len(groups))]
    c.units([Unit(ref_names[i], {**inputs, "group": i, "model": g.reference},
                  functools.partial(_complete_model, g.reference, labels[i][0], corpus, settings, None),
                  memory=need[g.reference], cpus=c.threads) for i, g in enumerate(groups)])
    var_names = [[f"complete/group{i}/{k + 1}" for k in range(len(g.variants))] for i, g in enumerate(groups)]
    c.units([Unit(var_names[i][k], {**inputs, "group": i, "model": v},
                  functools.partial(_complete_model, v, labels[i][k + 1], corpus, settings,
                                    unit_dir(c.run, ref_names[i])), memory=need[v], cpus=c.threads)
             for i, g in enumerate(groups) for k, v in enumerate(g.variants)])
    corp, plan = plan_probes(corpus, settings)
    out: dict[str, str] = {}
    for i, g in enumerate(groups):
        passes = [_load_pass(unit_dir(c.run, n)) for n in [ref_names[i], *var_names[i]]]
        res = assemble(corp, plan, settings, passes)
        gdir = d / f"group{i}"
        res.save(gdir, plot=True)
        io.write_json(gdir / "models.json", {"reference": g.reference, "variants": list(g.variants)})
        out[g.name] = str(gdir.relative_to(d))
    return {"groups": out}


# -- codegen -----------------------------------------------------------------------------------------------
def _codegen_shard(model: str, path: str, task_ids: list[str], digest: str, settings: CodegenSettings, limit: int,
                   threads: int, d: Path) -> dict[str, Any]:
    problems = [p for p in load_problems(limit=limit or None) if p.task_id in set(task_ids)]
    box = Sandbox(Limits(), jobs=threads)
    try:
        run_codegen_many({model: path}, problems, settings, sandbox=box, load_options={"threads": threads},
                         run_dir=lambda m: d / "run", plot=False, data_digest=digest)
    finally:
        box.close()
    return {"model": model, "problems": len(problems)}


def codegen_shards(c: Cluster, inputs: dict[str, Any], models: list[str], paths: dict[str, str],
                   problems: Sequence[Problem], settings: CodegenSettings, d: Path) -> None:
    """HumanEval for ``models`` in shards of the problems (units), joined into each model's run directory
    ``d/<slug(model)>`` so that the step's own pass there only scores what the shards generated and ran."""
    if not models:
        return
    digest = full_data_digest(problems)
    n = max(1, min(len(problems), math.ceil(c.width / len(models))))  # shards per model: the cluster kept busy
    ids = [p.task_id for p in problems]
    shards = [ids[k::n] for k in range(n)]
    names = {(m, k): f"codegen/{slug(label_for(m))}-{stable_hash(m, 8)}/shard{k}" for m in models for k in range(n)}
    c.units([Unit(names[(m, k)], {**inputs, "model": m, "shard": k, "shards": n, "task_ids": shard},
                  functools.partial(_codegen_shard, m, paths[m], shard, digest, settings, c.config.codegen.limit,
                                    c.threads), memory=_model_memory(paths[m], 2048), cpus=c.threads)
             for m in models for k, shard in enumerate(shards)])
    for m in models:
        for name in ("generations.jsonl", "results.jsonl"):
            lines = []
            for k in range(n):
                f = unit_dir(c.run, names[(m, k)]) / "run" / name
                if f.is_file():
                    lines.append(f.read_text(encoding="utf-8"))
            io.write_text(d / slug(m) / name, "".join(lines))
