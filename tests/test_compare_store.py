"""Chunk stores verify what they read: a truncated chunk, a chunk of another run or a damaged one is
recomputed (said on stderr) or one error line, never a traceback and never used silently."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tokprobe.compare.store import ChunkStore
from tokprobe.errors import FileFormatError


def _store(path: Path, key: str = "k1", kind: str = "comparison") -> ChunkStore:
    return ChunkStore.open(path, {"key": key, "kind": kind})


def _fill(st: ChunkStore, n: int = 4, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for w in range(n):
        st.write_window(w, {"kl": rng.random(50).astype(np.float32), "ids": np.arange(50) + w})


def test_intact_chunks_are_kept_and_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(_store(tmp_path / "s"))
    st = _store(tmp_path / "s")
    assert st.done_windows() == {0, 1, 2, 3}
    assert st.read_window(2)["ids"][0] == 2
    assert capsys.readouterr().err == ""


def test_truncated_chunk_is_recomputed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(_store(tmp_path / "s"))
    p = tmp_path / "s" / "w000002-b000.npz"
    p.write_bytes(p.read_bytes()[:100])
    st = _store(tmp_path / "s")
    assert st.done_windows() == {0, 1, 3} and st.first_missing(4) == 2
    assert "recomputing" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["comparison", "exact"])
def test_chunk_of_another_run_is_not_used(tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _store(tmp_path / "a", "ka", kind), _store(tmp_path / "b", "kb", kind)
    _fill(a, seed=0)
    _fill(b, seed=1)
    # Only the data file (same shapes, so the same size): found on open (hashed) or on read (reference caches).
    shutil.copyfile(tmp_path / "b" / "w000001-b000.npz", tmp_path / "a" / "w000001-b000.npz")
    st = _store(tmp_path / "a", "ka", kind)
    if kind == "comparison":
        assert 1 not in st.done_windows()
    else:
        with pytest.raises(FileFormatError, match="damaged or from another run") as ei:
            st.read_window(1)
        assert "\n" not in str(ei.value)
        assert 1 not in st.done_windows()  # dropped: the next run recomputes it
    # Data file and marker together: the marker names the other store's key.
    for name in ("w000002-b000.npz", "w000002.done"):
        shutil.copyfile(tmp_path / "b" / name, tmp_path / "a" / name)
    st = _store(tmp_path / "a", "ka", kind)
    assert 2 not in st.done_windows()
    assert "another run" in capsys.readouterr().err


def test_markers_of_the_old_format_are_recomputed(tmp_path: Path) -> None:
    st = _store(tmp_path / "s")
    _fill(st, n=2)
    (tmp_path / "s" / "w000001.done").write_text(json.dumps({"parts": 1}) + "\n")
    assert _store(tmp_path / "s").done_windows() == {0}


def test_cli_compare_recomputes_a_damaged_chunk(tiny_model_path: Path, tiny_model_path_b: Path,
                                               tmp_path: Path) -> None:
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "tokprobe", "compare", str(tiny_model_path), str(tiny_model_path_b), "--run-dir",
           str(run), "--no-floor", "-t", "1", "-c", "128", "--max-tokens", "600", "--no-progress", "--breakdown",
           "none", "-f", "json"]
    env = dict(os.environ, COLUMNS="200", TOKPROBE_CACHE=str(tmp_path / "cache"))
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    chunk = sorted(run.glob("state/*/w000001-b000.npz"))[0]
    chunk.write_bytes(chunk.read_bytes()[:-500])  # a truncated chunk: BadZipFile before
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "recomputing" in again.stderr and "Traceback" not in again.stderr
    keys = ("kl_mean", "kl_max", "same_top1", "n_tokens", "ppl_var")
    assert [{k: r[k] for k in keys} for r in json.loads(again.stdout)] == \
        [{k: r[k] for k in keys} for r in json.loads(first.stdout)]
