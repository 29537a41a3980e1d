"""What the sandbox does without root, and that it holds for an unprivileged user: unix-domain sockets
are blocked, every parallel slot shares one process budget counted once, the warning says plainly what
is missing, and (when run as root) the sandbox tests run again as ``nobody``."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tokprobe
from tokprobe.codegen import Limits, Sandbox
from tokprobe.codegen import limits as limits_module
from tokprobe.codegen import sandbox as sandbox_module
from tokprobe.codegen.sandbox import unprivileged_warning
from tokprobe.codegen.verdict import ExecResult

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")
NOBODY = 65534
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    root = Path(tempfile.mkdtemp(prefix="tokprobe-sbx-unpriv-"))
    os.chmod(root, 0o755)
    with Sandbox(Limits(timeout_s=10, cpu_s=5), jobs=1, tmp_root=root) as sb:
        yield sb
    root.rmdir()


def test_unix_domain_sockets_are_blocked(sandbox: Sandbox) -> None:
    res = sandbox.run("import socket\nsocket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n")
    assert res.kind == "exception" and res.error_type == "PermissionError", res
    assert res.isolation.get("unix_sockets") is False
    # What programs legitimately use still works: socketpair, pipes, subprocesses, inet sockets (no network).
    ok = sandbox.run("import socket, subprocess, sys\na, b = socket.socketpair()\na.send(b'x')\n"
                     "assert b.recv(1) == b'x'\nsocket.socket(socket.AF_INET).close()\n"
                     "out = subprocess.run([sys.executable, '-c', 'print(1)'], capture_output=True).stdout\n"
                     "assert out == b'1\\n', out\n")
    assert ok.kind == "pass", ok


def test_slots_share_one_process_budget_counted_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without root: the RLIMIT_NPROC of every program is the budget counted at start, not a count taken
    while the other slots' programs run (which raced with them)."""
    counts = iter(range(10, 10_000, 7))  # our process count grows while programs run
    monkeypatch.setattr(limits_module, "leftover_processes", lambda uid=None, sid=None: [0] * next(counts))
    monkeypatch.setattr(sandbox_module.os, "geteuid", lambda: 1000)
    seen: list[int] = []

    def fake_execute(python: str, cfg: dict[str, Any], workdir: str, uid: int | None, lim: Limits) -> ExecResult:
        seen.append(cfg["nproc"])
        return ExecResult(kind="pass")

    monkeypatch.setattr(sandbox_module, "execute", fake_execute)
    with Sandbox(Limits(nproc=16), jobs=3, tmp_root=tmp_path) as sb:
        assert sb.nproc_budget == 10 + 1 + 3 * (16 + limits_module.SLOT_OVERHEAD)
        sb.run_many(["pass"] * 6)
    assert seen == [sb.nproc_budget] * 6


def test_the_warning_says_what_is_missing() -> None:
    msg = unprivileged_warning({"pid": False}, 71)
    assert "not running as root" in msg and "signal" in msg and "71" in msg and "read and write" in msg
    assert "signal" not in unprivileged_warning({"pid": True}, 71)


@contextlib.contextmanager
def _reachable_by_nobody(*paths: Path) -> Iterator[None]:
    """As root: let ``nobody`` traverse the directories above ``paths`` (the interpreter under a 0700
    /root, say) for the duration, and put their modes back after, so that no other test sees them."""
    changed: list[tuple[Path, int]] = []
    try:
        for p in paths:
            for d in reversed(Path(p).resolve().parents):
                mode = d.stat().st_mode & 0o7777
                if os.geteuid() == 0 and not mode & 0o001:
                    os.chmod(d, mode | 0o001)
                    changed.append((d, mode))
        yield
    finally:
        for d, mode in reversed(changed):
            os.chmod(d, mode)


def _runs_as_nobody() -> bool:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    r = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable, "-c",
                        "import tokprobe.codegen"], capture_output=True, cwd="/", env=_nobody_env(), timeout=60)
    return r.returncode == 0


def _nobody_env() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "LANG", "LC_ALL")}
    return {**keep, "HOME": "/tmp", "TMPDIR": "/tmp", "TOKPROBE_CACHE": "/tmp/tokprobe-nobody-cache"}


@pytest.mark.skipif(os.environ.get("TOKPROBE_UNPRIVILEGED_RERUN") == "1", reason="already the unprivileged re-run")
def test_sandbox_tests_pass_as_an_unprivileged_user() -> None:
    """CI runs as root, so the unprivileged path of the sandbox would never run: re-run the sandbox tests
    as ``nobody`` (setpriv), where the interpreter and the checkout are readable by it."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("not root or no setpriv: the unprivileged path already runs as this user")
    # Its working directory directly under /tmp: pytest's own tmp_path sits below a 0700 directory of root's.
    work = Path(tempfile.mkdtemp(prefix="tokprobe-nobody-"))
    os.chmod(work, 0o777)
    tests = [str(REPO / "tests" / n) for n in ("test_codegen_sandbox.py", "test_codegen_sandbox_channel.py",
                                              "test_codegen_sandbox_unprivileged.py")]
    env = {**_nobody_env(), "TOKPROBE_UNPRIVILEGED_RERUN": "1"}
    try:
        with _reachable_by_nobody(Path(sys.executable), REPO, Path(tokprobe.__file__)):
            if not _runs_as_nobody():
                pytest.skip("the interpreter or the checkout is not readable by nobody")
            r = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W",
                                "ignore::UserWarning", "--rootdir", str(REPO), *tests], capture_output=True, text=True,
                               cwd=str(work), env=env, timeout=900)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout
