"""The sandbox's status lines have a pipe of their own: no amount of stderr from a program (or its
test) pushes the verdict out, so a chatty program gets its real outcome instead of a SandboxError
that every resume would hit again."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tokprobe.codegen import Limits, Sandbox
from tokprobe.codegen.procs import STATUS_TAG, drain_status

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")

FLOOD = "import sys\nsys.stderr.write('x' * (1 << 20) + '\\n')\nsys.stderr.flush()\n"  # 1 MiB, 8x the old tail


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    root = Path(tempfile.mkdtemp(prefix="tokprobe-sbx-channel-"))
    with Sandbox(Limits(timeout_s=10, cpu_s=5), jobs=1, tmp_root=root) as sb:
        yield sb
    root.rmdir()


@pytest.mark.parametrize("program,kind", [
    (FLOOD + "assert 1 + 1 == 2\n", "pass"),
    (FLOOD + "assert 1 + 1 == 3, 'wrong'\n", "assertion"),
    ("def f():\n    return 1\n\nimport sys\nfor _ in range(4000):\n    print('line ' * 20, file=sys.stderr)\n"
     "assert f() == 2\n", "assertion"),  # the test's own output, line by line
])
def test_chatty_programs_get_their_verdict(sandbox: Sandbox, program: str, kind: str) -> None:
    res = sandbox.run(program)
    assert res.kind == kind, res
    assert res.stderr_tail  # the program's own stderr is still kept (its tail)
    assert "__TOKPROBE_SANDBOX__" not in res.stderr_tail


def test_garbage_on_the_status_pipe_cannot_push_the_verdict_out(sandbox: Sandbox) -> None:
    # The program finds the status fd in its own command line and floods it with untagged lines.
    prog = ("import json, os\nargv = open('/proc/self/cmdline', 'rb').read().split(b'\\0')\n"
            "fd = json.loads(argv[-2])['status_fd']\n"
            "for _ in range(64):\n    os.write(fd, b'junk ' * 8000 + b'\\n')\n"
            "assert False, 'after the flood'\n")
    res = sandbox.run(prog)
    assert res.kind == "assertion" and res.message == "after the flood", res


def test_drain_status_keeps_only_tagged_lines() -> None:
    r, w = os.pipe()
    os.set_blocking(r, False)  # as supervise() reads it
    buf = bytearray()
    os.write(w, b"noise\n" + STATUS_TAG + b"n {\"role\": \"ready\"}\n" + b"z" * 5000 + b"\n" + STATUS_TAG[:5])
    assert not drain_status(r, buf)
    os.write(w, STATUS_TAG[5:] + b"n {\"role\": \"result\"}\n")
    os.close(w)
    assert drain_status(r, buf)
    os.close(r)
    ready, result = STATUS_TAG + b'n {"role": "ready"}', STATUS_TAG + b'n {"role": "result"}'
    assert bytes(buf).split(b"\n") == [ready, result, b""]
