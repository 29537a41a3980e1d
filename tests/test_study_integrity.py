"""A study trusts only intact step results: a result file cut at a line boundary or truncated is
recomputed (the log says so) or one error line, and no report is left that looks current after a
failure. One study per run directory (tokprobe.locks)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tokprobe import locks
from tokprobe.errors import FileFormatError
from tokprobe.study import load_config, run_study
from tokprobe.study.config import StudyConfig


@pytest.fixture(scope="module")
def config(tiny_model_path: Path, tiny_model_path_b: Path, tmp_path_factory: pytest.TempPathFactory) -> StudyConfig:
    d = tmp_path_factory.mktemp("study-integrity")
    corpus = d / "corpus"
    corpus.mkdir()
    (corpus / "a.py").write_text("def add(a, b):\n    return a + b\n\n\nclass Box:\n    pass\n" * 8)
    cfg = d / "study.toml"
    cfg.write_text(textwrap.dedent(f"""
        [study]
        name = "integrity"
        threads = 1

        [[groups]]
        technique = "quantization"
        name = "tiny"
        reference = "{tiny_model_path}"
        variants = ["{tiny_model_path_b}"]

        [vocab]
        enabled = false
        [coldstart]
        enabled = false
        [complete]
        enabled = false
        [codegen]
        enabled = false

        [compare]
        corpus = "corpus"
        n_ctx = 64
        max_tokens = 200
    """))
    return load_config(cfg)


def test_damaged_results_are_recomputed_and_said(config: StudyConfig, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_study(config, run)
    summary = run / "steps" / "compare" / "group0" / "summary.csv"
    good = summary.read_bytes()
    lines = good.decode().splitlines(keepends=True)
    for damaged in ("".join(lines[:-1]), good.decode()[: len(good) // 2]):  # cut at a line boundary; truncated
        summary.write_text(damaged)
        said: list[str] = []
        res = run_study(config, run, log=said.append)
        assert {s.name: s.skipped for s in res.steps} == {"models": True, "compare": False}
        assert any("compare: stored results are damaged" in m and "recomputing" in m for m in said), said
        assert summary.read_bytes() == good


def test_damaged_step_not_rerun_is_one_error_and_no_stale_report(config: StudyConfig, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_study(config, run)
    assert (run / "report.md").is_file()
    summary = run / "steps" / "compare" / "group0" / "summary.csv"
    summary.write_bytes(summary.read_bytes()[:-40])
    with pytest.raises(FileFormatError) as ei:
        run_study(config, run, steps=("models",))  # compare is not re-run: the report would read the damage
    assert "compare" in str(ei.value) and "\n" not in str(ei.value)
    assert not (run / "report.md").exists() and not (run / "report.html").exists()
    # `tokprobe report` checks too: one error line, exit 2, no report left behind.
    (run / "report.md").write_text("old")
    env = dict(os.environ, TOKPROBE_CACHE=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "tokprobe", "report", str(run)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert not (run / "report.md").exists()


def test_study_on_a_held_run_dir_is_refused(config: StudyConfig, tmp_path: Path) -> None:
    run = tmp_path / "run"
    hold = "import sys, time\nfrom tokprobe import locks\nlocks.acquire(sys.argv[1])\nprint('held', flush=True)\n" \
           "time.sleep(120)\n"
    p = subprocess.Popen([sys.executable, "-c", hold, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        with pytest.raises(locks.RunDirLocked, match=f"pid {p.pid}"):
            run_study(config, run)
    finally:
        p.kill()
        p.wait(timeout=30)
        if p.stdout is not None:
            p.stdout.close()
    assert not (run / "steps").exists()
