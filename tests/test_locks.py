"""Run-directory locks: one process per run directory; the second one gets one line naming the holder,
and ``--fresh`` in a second process never touches the files of the first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tokprobe import locks

_HOLD = """
import sys, time
from tokprobe import locks
locks.acquire(sys.argv[1], "compare run")
print("held", flush=True)
time.sleep(120)
"""


def _holder(directory: Path) -> subprocess.Popen[str]:
    p = subprocess.Popen([sys.executable, "-c", _HOLD, str(directory)], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def _stop(p: subprocess.Popen[str]) -> None:
    if p.poll() is None:
        p.kill()
    p.wait(timeout=30)
    if p.stdout is not None:
        p.stdout.close()


def test_second_holder_gets_one_line_naming_the_first(tmp_path: Path) -> None:
    p = _holder(tmp_path / "run")
    try:
        with pytest.raises(locks.RunDirLocked) as ei:
            locks.acquire(tmp_path / "run", "compare run")
        msg = str(ei.value)
        assert f"pid {p.pid}" in msg and "\n" not in msg and str(tmp_path / "run") in msg
    finally:
        _stop(p)


def test_a_killed_holder_leaves_no_lock(tmp_path: Path) -> None:
    p = _holder(tmp_path / "run")
    os.kill(p.pid, signal.SIGKILL)
    _stop(p)
    assert (tmp_path / "run" / locks.LOCK_NAME).exists()  # the file stays, the lock does not
    with locks.hold(tmp_path / "run"):
        assert locks.is_held_here(tmp_path / "run")
    assert not locks.is_held_here(tmp_path / "run")


def test_reentrant_within_a_process_and_released_after_the_last(tmp_path: Path) -> None:
    d = tmp_path / "run"
    locks.acquire(d)
    locks.acquire(d)  # flock would conflict with a second descriptor of the same process
    locks.release(d)
    r = subprocess.run([sys.executable, "-c", "import sys; from tokprobe import locks; locks.acquire(sys.argv[1])",
                        str(d)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "RunDirLocked" in r.stderr
    locks.release(d)
    r = subprocess.run([sys.executable, "-c", "import sys; from tokprobe import locks; locks.acquire(sys.argv[1])",
                        str(d)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def _compare(ref: Path, var: Path, run: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tokprobe", "compare", str(ref), str(var), "--run-dir", str(run), "--no-floor",
            "-t", "1", "-c", "128", "--no-progress", "--breakdown", "none", *extra]


def _env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, COLUMNS="200", TOKPROBE_CACHE=str(tmp_path / "cache"))


def test_cli_fresh_on_a_held_run_dir_is_one_line_and_leaves_the_holder_alone(
        tiny_model_path: Path, tiny_model_path_b: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    p = _holder(run)
    sentinel = run / "state" / "theirs" / "w000000-b000.npz"
    sentinel.parent.mkdir(parents=True)
    sentinel.write_bytes(b"being written")
    try:
        r = subprocess.run(_compare(tiny_model_path, tiny_model_path_b, run, tmp_path, "--max-tokens", "200",
                                    "--fresh"), capture_output=True, text=True, env=_env(tmp_path), timeout=300)
    finally:
        _stop(p)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"pid {p.pid}" in lines[0], r.stderr
    assert sentinel.read_bytes() == b"being written"


def test_two_compares_on_one_run_dir(tiny_model_path: Path, tiny_model_path_b: Path, tmp_path: Path) -> None:
    """The second compare (with --fresh) starts while the first holds the directory: the first finishes."""
    run = tmp_path / "run"
    env = _env(tmp_path)
    first = subprocess.Popen(_compare(tiny_model_path, tiny_model_path_b, run, tmp_path, "--max-tokens", "3000",
                                      "-f", "json"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env)
    lock = run / locks.LOCK_NAME
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.stat().st_size > 0) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    second = subprocess.run(_compare(tiny_model_path, tiny_model_path_b, run, tmp_path, "--max-tokens", "3000",
                                     "--fresh"), capture_output=True, text=True, env=env, timeout=300)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-2000:]
    assert second.returncode == 2 and f"pid {first.pid}" in second.stderr, second.stderr[-2000:]
    assert "Traceback" not in err and '"kl_mean"' in out
