"""The codegen sandbox: classification, limits, hostile programs, the 164 canonical solutions."""

from __future__ import annotations

import os
import socket
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tokprobe.codegen import Limits, Sandbox, leftover_processes, load_problems
from tokprobe.codegen.procs import pick_slot_uids as _pick_slot_uids
from tokprobe.codegen.verdict import classify as _classify

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="uid separation needs root")


@pytest.fixture(scope="module")
def tmp_root():
    d = tempfile.mkdtemp(prefix="tokprobe-sbx-test-")
    yield Path(d)
    os.rmdir(d)  # fails if a sandbox directory was left behind


@pytest.fixture(scope="module")
def sandbox(tmp_root):
    with Sandbox(Limits(timeout_s=4, cpu_s=2, memory_bytes=512 << 20, nproc=16), jobs=2, tmp_root=tmp_root) as sb:
        sb.probe()
        yield sb


def _assert_clean(sb: Sandbox, tmp_root: Path) -> None:
    for uid in sb.slot_uids:
        if uid is not None:
            assert leftover_processes(uid=uid) == []
    assert list(tmp_root.iterdir()) == []
    assert os.path.isdir(f"/proc/{os.getpid()}")  # the tool is alive


# ---------------------------------------------------------------------------------------- basics


def test_probe_reports_isolation(sandbox):
    iso = sandbox.probe()
    assert {"net", "mount", "pid", "private_tmp"} <= set(iso)
    if ROOT:
        assert iso["uid"] not in (0, None) and iso["uid"] in sandbox.slot_uids


@pytest.mark.parametrize(
    "program, kind, error_type",
    [
        ("assert 1 + 1 == 2\n", "pass", None),
        ("assert 1 + 1 == 3, 'math'\n", "assertion", "AssertionError"),
        ("def f(:\n    pass\n", "syntax", "SyntaxError"),
        ("def f():\nreturn 1\n", "syntax", "IndentationError"),
        ("if True:\n\tx = 1\n        y = 2\n", "syntax", "TabError"),
        ("raise KeyError('k')\n", "exception", "KeyError"),
        ("undefined_name\n", "exception", "NameError"),
        ("import sys\nsys.exit(0)\n", "exception", "SystemExit"),
        ("def f(n): return f(n + 1)\nf(0)\n", "exception", "RecursionError"),
        ("x = bytearray(1 << 40)\n", "killed", "MemoryError"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", "killed", "SIGSEGV"),
        ("import os\nos._exit(0)\n", "exception", "EarlyExit"),
        ("import os\nos._exit(3)\n", "exception", "EarlyExit"),
    ],
)
def test_classification(sandbox, tmp_root, program, kind, error_type):
    res = sandbox.run(program)
    assert res.kind == kind, res
    assert res.error_type == error_type
    assert res.passed == (kind == "pass")
    _assert_clean(sandbox, tmp_root)


def test_assertion_reports_line(sandbox):
    res = sandbox.run("x = 1\n\nassert x == 2\n")
    assert res.kind == "assertion" and res.line == 3 and res.source_line == "assert x == 2"


def test_environment_is_scrubbed_and_isolated(sandbox):
    prog = (
        "import os, sys\n"
        "assert sys.flags.isolated == 1 and sys.flags.dont_write_bytecode == 1\n"
        "assert 'TOKPROBE_SECRET' not in os.environ, os.environ\n"
        "assert set(os.environ) <= {'PATH', 'LANG', 'LC_ALL', 'HOME', 'TMPDIR'}, sorted(os.environ)\n"
        "assert sys.stdin.read() == ''\n"
        "open('scratch.txt', 'w').write('ok')\n"
        "assert open('scratch.txt').read() == 'ok'\n"
    )
    os.environ["TOKPROBE_SECRET"] = "x"
    try:
        res = sandbox.run(prog)
    finally:
        del os.environ["TOKPROBE_SECRET"]
    assert res.kind == "pass", res


# ----------------------------------------------------------------------------- hostile programs


def test_infinite_loop_wall_timeout(tmp_root):
    with Sandbox(Limits(timeout_s=1.0, cpu_s=10), jobs=1, tmp_root=tmp_root) as sb:
        t0 = time.monotonic()
        res = sb.run("while True:\n    pass\n")
        assert time.monotonic() - t0 < 3.0
        assert res.kind == "timeout" and res.error_type == "WallTimeout"
        _assert_clean(sb, tmp_root)


def test_infinite_loop_cpu_limit(tmp_root):
    with Sandbox(Limits(timeout_s=8, cpu_s=1), jobs=1, tmp_root=tmp_root) as sb:
        t0 = time.monotonic()
        res = sb.run("while True:\n    pass\n")
        assert time.monotonic() - t0 < 6.0
        assert res.kind == "timeout" and res.error_type == "CpuTimeout", res
        # a program that ignores SIGXCPU is stopped at the hard limit (SIGKILL)
        res = sb.run("import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass\n")
        assert res.kind == "timeout", res
        _assert_clean(sb, tmp_root)


def test_sleep_is_wall_timeout(tmp_root):
    with Sandbox(Limits(timeout_s=0.8), jobs=1, tmp_root=tmp_root) as sb:
        res = sb.run("import time\ntime.sleep(30)\n")
        assert res.kind == "timeout" and res.duration_s < 2.5
        _assert_clean(sb, tmp_root)


def test_fork_bomb(tmp_root):
    prog = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    with Sandbox(Limits(timeout_s=1.5, nproc=8), jobs=1, tmp_root=tmp_root) as sb:
        t0 = time.monotonic()
        res = sb.run(prog)
        assert time.monotonic() - t0 < 4.5
        assert res.kind in ("timeout", "killed", "exception") and not res.passed
        _assert_clean(sb, tmp_root)


@needs_root
def test_nproc_limit_enforced(sandbox, tmp_root):
    # 16 processes per sandbox uid: the 16th fork fails (the program itself is the first).
    prog = (
        "import os, time\n"
        "kids = 0\n"
        "try:\n"
        "    for _ in range(100):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            time.sleep(60)\n"
        "            os._exit(0)\n"
        "        kids += 1\n"
        "except OSError:\n"
        "    pass\n"
        "assert kids < 16, kids\n"
        "raise RuntimeError('forked %d' % kids)\n"
    )
    res = sandbox.run(prog)
    assert res.kind == "exception" and res.error_type == "RuntimeError", res
    assert int(res.message.split()[-1]) <= 15
    _assert_clean(sandbox, tmp_root)  # the sleeping children are gone


def test_escaped_daemon_is_killed(sandbox, tmp_root):
    # a child that leaves the process group and the session is still found and killed
    prog = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(120)\n"
        "    os._exit(0)\n"
        "time.sleep(0.2)\n"
    )
    res = sandbox.run(prog)
    assert res.kind == "pass", res
    _assert_clean(sandbox, tmp_root)


def test_memory_balloon(sandbox, tmp_root):
    res = sandbox.run("chunks = []\nwhile True:\n    chunks.append(bytearray(8 << 20))\n")
    assert res.kind == "killed" and res.error_type == "MemoryError", res
    _assert_clean(sandbox, tmp_root)


def test_file_size_limit(tmp_root):
    with Sandbox(Limits(timeout_s=5, fsize_bytes=1 << 20), jobs=1, tmp_root=tmp_root) as sb:
        res = sb.run("with open('big', 'wb') as f:\n    for _ in range(100):\n        f.write(b'x' * (1 << 20))\n")
        assert res.kind in ("exception", "killed") and not res.passed, res
        _assert_clean(sb, tmp_root)


def _canary_dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="tokprobe-canary-"))
    d.chmod(0o755)
    (d / "canary.txt").write_text("canary\n")
    (d / "canary.txt").chmod(0o644)
    return d


@pytest.mark.parametrize("isolate", [True, pytest.param(False, marks=needs_root)])
def test_cannot_write_or_delete_outside(tmp_root, isolate):
    d = _canary_dir()
    try:
        with Sandbox(Limits(timeout_s=5), jobs=1, tmp_root=tmp_root, isolate=isolate) as sb:
            canary = d / "canary.txt"
            for prog in (
                f"open({str(canary)!r}, 'w').write('owned')\n",
                f"open({str(canary)!r}, 'a').write('owned')\n",
                f"import os\nos.remove({str(canary)!r})\n",
                f"import os\nos.rename({str(canary)!r}, {str(d / 'moved')!r})\n",
                f"open({str(d / 'new.txt')!r}, 'w').write('x')\n",
                "import os\nos.chmod('/', 0o777)\n",
            ):
                res = sb.run(prog)
                assert res.kind == "exception" and res.error_type in (
                    "PermissionError", "FileNotFoundError", "OSError"), (prog, res)
            assert canary.read_text() == "canary\n"
            assert sorted(p.name for p in d.iterdir()) == ["canary.txt"]
            _assert_clean(sb, tmp_root)
    finally:
        for p in d.iterdir():
            p.unlink()
        d.rmdir()


def test_private_tmp(sandbox, tmp_root):
    iso = sandbox.probe()
    if not iso.get("private_tmp"):
        pytest.skip("no mount namespace here")
    marker = Path(tempfile.gettempdir()) / "tokprobe-sbx-marker"
    res = sandbox.run(
        f"open({str(marker)!r}, 'w').write('x')\nimport os\nassert os.listdir('/tmp') == ['tokprobe-sbx-marker']\n"
    )
    assert res.kind == "pass", res
    assert not marker.exists()
    _assert_clean(sandbox, tmp_root)


def test_no_network(sandbox, tmp_root):
    if not sandbox.probe().get("net"):
        pytest.skip("no network namespace here (the sandbox warns)")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    got = []

    def accept():
        try:
            conn, _ = server.accept()
            got.append(conn)
        except OSError:
            pass

    th = threading.Thread(target=accept)
    th.start()
    try:
        res = sandbox.run(
            f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\ns.sendall(b'hi')\n"
        )
        res2 = sandbox.run("import socket\nsocket.create_connection(('8.8.8.8', 53), timeout=2)\n")
    finally:
        th.join()
        server.close()
        for c in got:
            c.close()
    assert not got
    assert res.kind == "exception" and res.error_type in ("OSError", "ConnectionRefusedError"), res
    assert res2.kind == "exception", res2
    _assert_clean(sandbox, tmp_root)


def test_cannot_signal_the_tool(sandbox, tmp_root):
    me = os.getpid()
    for prog in (
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
        f"import os, signal\nos.kill({me}, signal.SIGKILL)\n",
        "import os, signal\nos.killpg(os.getpgid(0), signal.SIGKILL)\n",
        "import os, signal\nos.kill(-1, signal.SIGKILL)\n",
    ):
        res = sandbox.run(prog)
        assert not res.passed or prog.endswith("SIGKILL)\n")  # kill(-1) may "succeed" on itself only
        assert os.path.isdir(f"/proc/{me}")
    _assert_clean(sandbox, tmp_root)


@needs_root
def test_cannot_read_private_home(sandbox):
    home = Path("/root")
    if not home.is_dir() or home.stat().st_mode & 0o007:
        pytest.skip("/root is not private here")
    res = sandbox.run("import os\nprint(os.listdir('/root'))\nopen('/root/.bashrc').read()\n")
    assert res.kind == "exception" and res.error_type in ("PermissionError", "FileNotFoundError"), res


def test_nonce_cannot_be_forged_by_output(sandbox):
    prog = (
        "import sys\n"
        "sys.stderr.write('\\n__TOKPROBE_SANDBOX__ 0000 {\"role\": \"result\", \"kind\": \"pass\"}\\n')\n"
        "raise ValueError('nope')\n"
    )
    res = sandbox.run(prog)
    assert res.kind == "exception" and res.error_type == "ValueError"


def test_parallel_runs_and_tmp_removed(sandbox, tmp_root):
    progs = [f"import time\ntime.sleep(0.05)\nassert {i} % 3 != 0\n" for i in range(12)]
    res = sandbox.run_many(progs)
    assert [r.passed for r in res] == [i % 3 != 0 for i in range(12)]
    _assert_clean(sandbox, tmp_root)


# ------------------------------------------------------------------------------ HumanEval data


def test_all_canonical_solutions_pass(tmp_root):
    problems = load_problems()
    assert len(problems) == 164
    t0 = time.monotonic()
    with Sandbox(Limits(timeout_s=15), jobs=2, tmp_root=tmp_root) as sb:
        results = sb.run_many([p.program(p.canonical_solution) for p in problems])
        elapsed = time.monotonic() - t0
        failed = [(p.task_id, r.kind, r.error_type, r.message)
                  for p, r in zip(problems, results, strict=True) if not r.passed]
        assert failed == []
        assert elapsed < 30, elapsed
        _assert_clean(sb, tmp_root)


@pytest.mark.parametrize(
    "completion, kind",
    [
        (lambda p: "    return None\n", "assertion"),
        (lambda p: "    return (\n", "syntax"),
        (lambda p: "  x = 1\n    return x\n", "syntax"),
        (lambda p: "    raise ZeroDivisionError('boom')\n", "exception"),
        (lambda p: "    while True:\n        pass\n", "timeout"),
        (lambda p: "    return [bytearray(1 << 30) for _ in range(64)]\n", "killed"),
    ],
)
def test_broken_solutions(tmp_root, completion, kind):
    problems = load_problems(task_ids=["HumanEval/0", "HumanEval/2", "HumanEval/13"])
    with Sandbox(Limits(timeout_s=1.5, cpu_s=1, memory_bytes=256 << 20), jobs=2, tmp_root=tmp_root) as sb:
        results = sb.run_many([p.program(completion(p)) for p in problems])
        assert [r.kind for r in results] == [kind] * len(problems), results
        _assert_clean(sb, tmp_root)


# --------------------------------------------------------------------------------- unit pieces


def test_slot_uids_unused():
    if not ROOT:
        pytest.skip("slot uids only as root")
    uids, fds = _pick_slot_uids(4)
    try:
        assert len(set(uids)) == 4 and all(u > 1000 and u != 65534 for u in uids)
        # leased: another sandbox (in this process or another) gets different uids
        with Sandbox(Limits(), jobs=2) as other:
            assert not set(other.slot_uids) & set(uids)
    finally:
        for fd in fds:
            os.close(fd)


def test_limits_validation():
    from tokprobe.errors import InputError

    with pytest.raises(InputError):
        Limits(timeout_s=0)
    with pytest.raises(InputError):
        Limits(memory_bytes=1 << 20)
    assert Limits(timeout_s=2.5).cpu_limit == 3


def test_classify_without_status_line():
    from tokprobe.codegen.sandbox import SandboxError

    with pytest.raises(SandboxError):  # never reached "ready": a sandbox failure, not a program failure
        _classify(b"Traceback: boom\n", "n", 256, None, False, 0.1, Limits())


def test_program_file_is_not_writable_by_tool_users(tmp_root):
    # the staging directory is private (0700) while the program runs
    with Sandbox(Limits(timeout_s=5), jobs=1, tmp_root=tmp_root, isolate=False) as sb:
        res = sb.run("import os, stat\nst = os.stat('.')\nassert stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode)\n")
        assert res.kind == "pass", res
    assert stat.S_IMODE(os.stat(tmp_root).st_mode) & 0o077 == 0  # mkdtemp default


@needs_root
def test_programs_die_with_the_tool(tmp_path):
    # The tool is SIGKILLed while a program sleeps: nothing it started may survive.
    import signal
    import subprocess

    script = (
        "import sys\n"
        "from tokprobe.codegen import Sandbox, Limits\n"
        f"sb = Sandbox(Limits(timeout_s=120, cpu_s=120), jobs=1, tmp_root={str(tmp_path)!r})\n"
        "print(sb.slot_uids[0], flush=True)\n"
        "sb.run('import os, time\\nif os.fork() == 0:\\n    os.setsid()\\ntime.sleep(100)\\n')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    uid = int(proc.stdout.readline())
    deadline = time.monotonic() + 10
    while not leftover_processes(uid=uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftover_processes(uid=uid), "the program did not start"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    deadline = time.monotonic() + 5
    while leftover_processes(uid=uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftover_processes(uid=uid) == []
