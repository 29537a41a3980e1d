"""Several models through HumanEval in one call: one sandbox pool shared by every model, each model
loaded in turn (and closed before the next), then tables across models and flips against a
reference. ``tokprobe codegen`` and the study's codegen step both run through here.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import models as models_api
from ..errors import InputError
from ..models import is_model, label_for, unique_labels
from .flips import flips
from .plot import plot_pass_at_k
from .problems import Problem
from .results import CodegenResult
from .runner import Progress, run_codegen
from .sandbox import Limits, Sandbox, SandboxWarning
from .settings import DEFAULT_RUN_ROOT, CodegenSettings

# label -> a context manager yielding an update(done, total) callback
ProgressFactory = Callable[[str], contextlib.AbstractContextManager[Progress]]
SUMMARY_COLUMNS = ["model", "k", "pass_at_k", "stderr", "n_problems", "run_dir"]
COMBINED_PLOT = "pass_at_k_models.png"


@dataclass
class CodegenRuns:
    """The runs of several models, by label, in the order given; ``reference`` is the label flips
    are counted against; ``plot_path`` the combined pass@k plot, if one was written."""

    results: dict[str, CodegenResult]
    reference: str
    plot_path: Path | None = None

    def summary(self) -> pd.DataFrame:
        """pass@k per model and k, with each run's directory."""
        frames = [r.pass_at_k.assign(model=name, run_dir=str(r.run_dir)) for name, r in self.results.items()]
        return pd.concat(frames, ignore_index=True)[SUMMARY_COLUMNS]

    def problems(self) -> pd.DataFrame:
        """Per-problem outcomes of every model (a ``model`` column)."""
        return pd.concat([r.problems.assign(model=name) for name, r in self.results.items()], ignore_index=True)

    def samples(self) -> pd.DataFrame:
        """Every executed sample of every model (a ``model`` column)."""
        return pd.concat([r.samples.assign(model=name) for name, r in self.results.items()], ignore_index=True)

    def flips(self) -> pd.DataFrame | None:
        """Flips of every other model against the reference (None with a single model)."""
        if len(self.results) < 2:
            return None
        ref = self.results[self.reference]
        return pd.concat(
            [
                flips(ref.problems, r.problems, reference_name=self.reference, variant_name=name)
                for name, r in self.results.items()
                if name != self.reference
            ],
            ignore_index=True,
        )


def labelled_specs(models: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    """label -> model argument: a mapping as it is, else labels from :func:`tokprobe.models.label_for`
    (made unique)."""
    if isinstance(models, Mapping):
        return dict(models)
    specs = list(models)
    return dict(zip(unique_labels(label_for(m) for m in specs), specs, strict=True))


@contextlib.contextmanager
def _opened(spec: Any, load_options: Mapping[str, Any]) -> Iterator[Any]:
    """A loaded model for ``spec``: the caller's own model as it is, else loaded here and closed."""
    if is_model(spec):
        yield spec
        return
    # Looked up on the package at call time, so that a replaced tokprobe.models.load is used.
    with models_api.load(spec, **load_options) as model:
        yield model


def _probe(sandbox: Sandbox, on_warning: Callable[[str], None] | None) -> None:
    if on_warning is None:
        sandbox.probe()
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SandboxWarning)
        sandbox.probe()
    for w in caught:
        on_warning(str(w.message))


def run_codegen_many(
    models: Mapping[str, Any] | Sequence[Any],
    problems: Sequence[Problem],
    settings: CodegenSettings | None = None,
    *,
    reference: str | None = None,
    sandbox: Sandbox | None = None,
    limits: Limits | None = None,
    jobs: int | None = None,
    load_options: Mapping[str, Any] | None = None,
    run_root: str | os.PathLike[str] = DEFAULT_RUN_ROOT,
    run_dir: Callable[[str], str | os.PathLike[str]] | None = None,
    ks: Sequence[int] | None = None,
    plot: bool = True,
    resume: bool = True,
    progress: ProgressFactory | None = None,
    on_result: Callable[[str, CodegenResult], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    data_digest: str | None = None,
) -> CodegenRuns:
    """Run :func:`~tokprobe.codegen.run_codegen` for each model, sharing one sandbox.

    ``models``: names, paths or loaded models (labelled by :func:`tokprobe.models.label_for`), or a
    mapping label -> name/path/model. Models are loaded one at a time with ``load_options`` (keyword
    arguments of :func:`tokprobe.models.load`); the caller's loaded models are not closed.
    ``reference`` (a label; default: the first) is what :meth:`CodegenRuns.flips` counts against.
    ``run_dir(label)`` places a run (default: under ``run_root`` by model and settings key).
    ``progress(label)`` gives a context manager yielding an update callback; ``on_result(label,
    result)`` is called after each model; with ``on_warning`` the sandbox is probed first and its
    warnings are handed over as text. With ``plot`` and several models, a combined pass@k plot is
    written to ``<run_root>/codegen/pass_at_k_models.png``. ``data_digest`` keys the runs by another
    problem set than ``problems`` (a shard of a study's problems is keyed by the whole set, so that the
    shards' samples are the whole run's).
    """
    specs = labelled_specs(models)
    if not specs:
        raise InputError("no models given")
    if reference is not None and reference not in specs:
        raise InputError(f"reference {reference!r} is not one of the models given")
    runs = CodegenRuns({}, reference or next(iter(specs)))
    own_sandbox = sandbox is None
    box = sandbox if sandbox is not None else Sandbox(limits or Limits(), jobs=jobs)
    try:
        _probe(box, on_warning)
        for label, spec in specs.items():
            runs.results[label] = _run_one(label, spec, problems, settings, box, load_options or {}, run_root,
                                           run_dir, ks, plot, resume, progress, data_digest)
            if on_result is not None:
                on_result(label, runs.results[label])
    finally:
        if own_sandbox:
            box.close()
    if plot and len(runs.results) > 1:
        runs.plot_path = Path(run_root) / "codegen" / COMBINED_PLOT
        plot_pass_at_k({k: r.pass_at_k for k, r in runs.results.items()}, runs.plot_path)
    return runs


def _run_one(label: str, spec: Any, problems: Sequence[Problem], settings: CodegenSettings | None,
             sandbox: Sandbox, load_options: Mapping[str, Any], run_root: str | os.PathLike[str],
             run_dir: Callable[[str], str | os.PathLike[str]] | None, ks: Sequence[int] | None, plot: bool,
             resume: bool, progress: ProgressFactory | None, data_digest: str | None = None) -> CodegenResult:
    where = run_dir(label) if run_dir is not None else None
    with _opened(spec, load_options) as model:
        bar = progress(label) if progress is not None else contextlib.nullcontext(None)
        with bar as update:
            return run_codegen(model, problems, settings, sandbox=sandbox, run_root=run_root, run_dir=where,
                               ks=ks, plot=plot, progress=update, resume=resume, data_digest=data_digest)
