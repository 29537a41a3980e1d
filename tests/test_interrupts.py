"""Ctrl-C always works: an interrupt that lands inside llama.cpp's log callback is re-raised after the
C call returns, and the CLI says that finished results are kept (exit 130)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tokprobe.models import _llama, load

MESSAGE = "interrupted: finished results are kept"


def test_interrupt_in_the_log_callback_is_raised_after_the_call(tiny_model_path: Path) -> None:
    def interrupt(level: int, text: str) -> None:
        raise KeyboardInterrupt  # what Python's SIGINT handler does when the signal lands here

    with pytest.raises(KeyboardInterrupt), _llama.listen(interrupt):
        load(tiny_model_path, vocab_only=True, threads=1)
    # Recorded once: the next call goes through.
    with load(tiny_model_path, vocab_only=True, threads=1) as m:
        assert m.vocab.n_vocab > 0


_SIGINT_WHILE_LOGGING = """
import signal, sys
from tokprobe.cli import main
from tokprobe.models import _llama
sent = []
def on_log(level, text):
    if not sent:  # a real SIGINT, delivered while llama.cpp is inside the log callback
        sent.append(1)
        signal.raise_signal(signal.SIGINT)
_llama.listen(on_log).__enter__()
main(["models", "info", sys.argv[1]])
"""


def _env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, COLUMNS="200", TOKPROBE_CACHE=str(tmp_path / "cache"))


def test_sigint_during_model_loading_exits_130(tiny_model_path: Path, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-c", _SIGINT_WHILE_LOGGING, str(tiny_model_path)], capture_output=True,
                       text=True, env=_env(tmp_path), timeout=300)
    assert r.returncode == 130, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    assert MESSAGE in r.stderr
    assert "n_vocab" not in r.stdout  # the command did not run on
    assert "Exception ignored" not in r.stderr and "Traceback" not in r.stderr


def test_sigint_during_a_long_run_exits_130_with_the_message(tiny_model_path: Path, tiny_model_path_b: Path,
                                                             tmp_path: Path) -> None:
    """compare on the shipped corpus takes over a minute on a tiny model: Ctrl-C after a few seconds."""
    cmd = [sys.executable, "-m", "tokprobe", "compare", str(tiny_model_path), str(tiny_model_path_b),
           "--run-dir", str(tmp_path / "run"), "--no-floor", "-t", "1", "-c", "128", "--no-progress"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path))
    try:
        time.sleep(8)
        assert p.poll() is None, "the run finished before it could be interrupted"
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, (p.returncode, err[-2000:])
    assert MESSAGE in err and "Traceback" not in err
