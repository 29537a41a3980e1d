"""The study on a local Ray cluster gives the local runner's numbers, its steps split into units."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tokprobe import io
from tokprobe.errors import FileFormatError, InputError
from tokprobe.study import StudyConfig, parse_config, run_study, study_config
from tokprobe.study.executors import RayExecutor

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")

TABLES = ("steps/models/models.csv", "steps/compare/group0/summary.csv", "steps/compare/group0/breakdown-language.csv",
          "steps/compare/group0/breakdown-class.csv", "steps/coldstart/group0/summary.parquet",
          "steps/coldstart/group0/pairwise.parquet", "steps/complete/group0/summary.csv",
          "steps/complete/group0/probes.parquet", "steps/codegen/pass_at_k.csv")


def _tiny_config(tiny_model_path: Path, tiny_model_path_b: Path, corpus: Path) -> StudyConfig:
    return parse_config({
        "study": {"name": "tiny-ray", "threads": 1},
        "groups": [{"technique": "finetuning", "name": "pair", "reference": str(tiny_model_path),
                    "variants": [str(tiny_model_path_b)]}],
        "vocab": {"include_fetched": False},
        "compare": {"corpus": str(corpus), "n_ctx": 64},
        "complete": {"probes_per_language": 2, "max_tokens": 4},
        "codegen": {"limit": 2, "max_tokens": 8, "min_reference_passes": 0},
    }, source="test")


def _same_tables(a_run: Path, b_run: Path) -> None:
    for rel in TABLES:
        a, b = io.read_frame(a_run / rel), io.read_frame(b_run / rel)
        keep = [c for c in a.columns if not c.endswith(("_s", "seconds", "run_dir", "path")) and c != "timings"]
        pd.testing.assert_frame_equal(a[keep], b[keep], check_exact=True, obj=rel)


def _on_ray(cfg: StudyConfig, run: Path, num_cpus: int) -> tuple[Any, list[str]]:
    lines: list[str] = []
    ex = RayExecutor(num_cpus=num_cpus)  # a local Ray instance: its worker processes run the units
    try:
        return run_study(cfg, run, executor=ex, log=lines.append), lines
    finally:
        ex.close()


@pytest.mark.slow
def test_ray_runs_the_same_study_in_units(tiny_model_path: Path, tiny_model_path_b: Path, small_corpus: Path,
                                          tmp_path: Path) -> None:
    cfg = _tiny_config(tiny_model_path, tiny_model_path_b, small_corpus)
    local = run_study(cfg, tmp_path / "local")
    distributed, lines = _on_ray(cfg, tmp_path / "ray", num_cpus=2)
    assert [s.name for s in distributed.steps] == [s.name for s in local.steps]
    assert [s.key for s in distributed.steps] == [s.key for s in local.steps]
    done = " ".join(lines)
    for unit in ("coldstart/0-", "coldstart/1-", "compare/group0/part0", "compare/group0/part1",
                 "complete/group0/0-reference", "complete/group0/1", "codegen/tiny-seed0-", "/shard1",
                 "codegen/tiny-seed1-"):
        assert f"{unit}" in done, unit
    _same_tables(tmp_path / "local", tmp_path / "ray")
    assert not (tmp_path / "ray" / "units").exists() or not any((tmp_path / "ray" / "units").iterdir())
    assert (tmp_path / "ray" / "report.html").is_file()
    again = run_study(cfg, tmp_path / "ray")  # the local runner resumes a Ray run: every step is done
    assert all(s.skipped for s in again.steps)


@pytest.mark.slow
@pytest.mark.integration
def test_quick_study_on_two_ray_workers_gives_the_local_numbers(default_model_path: Path, tmp_path: Path) -> None:
    cfg = study_config(quick=True, threads=2)
    local = run_study(cfg, tmp_path / "local")
    distributed, lines = _on_ray(cfg, tmp_path / "ray", num_cpus=4)  # two tasks of two threads at once
    assert [s.key for s in distributed.steps] == [s.key for s in local.steps]
    assert any("compare/group0/part1" in line for line in lines)
    _same_tables(tmp_path / "local", tmp_path / "ray")


@pytest.mark.slow
def test_a_killed_worker_is_retried(tmp_path: Path) -> None:
    marker = str(tmp_path / "marker")

    def dies_once() -> str:  # defined here: Ray ships it by value (workers cannot import the test module)
        if not os.path.exists(marker):
            Path(marker).write_text("killed once\n")
            os._exit(1)  # the worker process dies in the middle of its task
        return "done on the retry"

    ex = RayExecutor(num_cpus=1)
    try:
        ex.submit("unit", dies_once)
        assert ex.results() == ["done on the retry"]
    finally:
        ex.close()


@pytest.mark.slow
def test_a_worker_without_the_model_says_so(tmp_path: Path) -> None:
    missing = str(tmp_path / "not-on-this-worker.gguf")

    def resolve_missing() -> object:
        from tokprobe.models import resolve

        return resolve(missing)

    ex = RayExecutor(num_cpus=1)
    try:
        ex.submit("compare/group0/part0", resolve_missing)
        with pytest.raises(FileFormatError, match=r"not-on-this-worker.gguf: no such file \(on Ray worker "):
            ex.results()
    finally:
        ex.close()


def test_an_unreachable_cluster_is_one_line() -> None:
    with pytest.raises(InputError, match="cannot start or reach Ray at 127.0.0.1:1"):
        RayExecutor("127.0.0.1:1")
