"""The study on a local Ray cluster (two worker processes) gives the local runner's numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tokprobe import io
from tokprobe.errors import InputError
from tokprobe.study import parse_config, run_study
from tokprobe.study.executors import RayExecutor

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")


def _config(tiny_model_path: Path, tiny_model_path_b: Path, corpus: Path) -> object:
    return parse_config({
        "study": {"name": "tiny-ray", "threads": 1},
        "groups": [{"technique": "finetuning", "name": "pair", "reference": str(tiny_model_path),
                    "variants": [str(tiny_model_path_b)]}],
        "vocab": {"include_fetched": False},
        "compare": {"corpus": str(corpus), "n_ctx": 64},
        "complete": {"probes_per_language": 2, "max_tokens": 4},
        "codegen": {"limit": 1, "max_tokens": 8},
    }, source="test")


@pytest.mark.slow
def test_ray_runs_the_same_study(tiny_model_path: Path, tiny_model_path_b: Path, small_corpus: Path,
                                 tmp_path: Path) -> None:
    cfg = _config(tiny_model_path, tiny_model_path_b, small_corpus)
    local = run_study(cfg, tmp_path / "local")
    ex = RayExecutor(num_cpus=2)  # a local Ray instance: two worker processes run the steps
    try:
        distributed = run_study(cfg, tmp_path / "ray", executor=ex)
    finally:
        ex.close()
    assert [s.name for s in distributed.steps] == [s.name for s in local.steps]
    assert [s.key for s in distributed.steps] == [s.key for s in local.steps]
    for rel in ("steps/compare/group0/summary.csv", "steps/compare/group0/breakdown-language.csv",
                "steps/coldstart/group0/summary.parquet", "steps/complete/group0/summary.csv",
                "steps/codegen/pass_at_k.csv"):
        a, b = io.read_frame(tmp_path / "local" / rel), io.read_frame(tmp_path / "ray" / rel)
        keep = [c for c in a.columns if not c.endswith(("_s", "seconds", "run_dir", "path")) and c != "timings"]
        pd.testing.assert_frame_equal(a[keep], b[keep], check_exact=True)
    assert (tmp_path / "ray" / "report.html").is_file()
    again = run_study(cfg, tmp_path / "ray")  # the local runner resumes a Ray run: every step is done
    assert all(s.skipped for s in again.steps)


def test_an_unreachable_cluster_is_one_line() -> None:
    with pytest.raises(InputError, match="cannot start or reach Ray at 127.0.0.1:1"):
        RayExecutor("127.0.0.1:1")
