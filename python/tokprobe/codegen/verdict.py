"""The verdict protocol: how the sandbox child reports a program's outcome, and how the parent
turns that report and the exit status into an :class:`ExecResult`.

The child writes nonce-tagged JSON status lines on a pipe of their own (``\\n__TOKPROBE_SANDBOX__
<nonce> <json>\\n``; never mixed with the program's stderr, so no amount of output pushes them out):
``ready`` once the program is about to run, ``result`` with the outcome, and (from
the pid-namespace init) ``exit`` with the program's exit status and rusage. The nonce is handed
to the child on stdin, so the program cannot forge a line it has not seen, and a program that
merely exits 0 (e.g. ``os._exit(0)`` before the tests run) does not pass.

Outcome kinds (:data:`KINDS`): ``pass``; ``assertion`` (AssertionError); ``syntax``
(SyntaxError/IndentationError/TabError at compile time); ``exception`` (any other exception,
incl. SystemExit; ``error_type`` names it); ``timeout`` (wall clock, or the CPU limit: SIGXCPU,
or SIGKILL after the CPU hard limit); ``killed`` (another signal, or MemoryError).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
from dataclasses import asdict, dataclass, field
from typing import Any

from .limits import Limits
from .procs import SandboxError

KINDS: tuple[str, ...] = ("pass", "assertion", "exception", "syntax", "timeout", "killed")
TAG = "__TOKPROBE_SANDBOX__"


@dataclass
class ExecResult:
    kind: str
    error_type: str | None = None
    message: str | None = None
    line: int | None = None
    source_line: str | None = None
    duration_s: float = 0.0
    cpu_s: float | None = None
    maxrss_kb: int | None = None
    returncode: int | None = None
    signal: str | None = None
    stderr_tail: str = ""
    isolation: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.kind == "pass"

    def to_dict(self, *, with_isolation: bool = False) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        if not with_isolation:
            d.pop("isolation")
        return d


def new_nonce() -> str:
    """A fresh random tag for one program's status lines."""
    return secrets.token_hex(16)


def signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"SIG{num}"


def parse_status(tail: bytes, nonce: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None, bool]:
    """(first ``result`` line, last ``exit`` line, whether ``ready`` was seen) among the status lines."""
    result = exit_info = None
    ready = False
    prefix = f"{TAG} {nonce} ".encode()
    for line in tail.split(b"\n"):
        if line.startswith(prefix):
            try:
                obj = json.loads(line[len(prefix) :])
            except ValueError:
                continue
            if obj.get("role") == "result" and result is None:
                result = obj
            elif obj.get("role") == "exit":
                exit_info = obj
            elif obj.get("role") == "ready":
                ready = True
    return result, exit_info, ready


def clean_tail(tail: bytes, nonce: str) -> str:
    """The program's own stderr (status lines removed), its last 4000 characters."""
    prefix = f"{TAG} {nonce} ".encode()
    lines = [ln for ln in tail.split(b"\n") if not ln.startswith(prefix)]
    text = b"\n".join(lines).strip().decode("utf-8", "replace")
    return text[-4000:]


def _exit_status(res: ExecResult, exit_info: dict[str, Any] | None, status: int,
                 ru: Any) -> tuple[int | None, int | None]:
    """(signal, exit code) of the program, filling cpu_s/maxrss_kb/signal of ``res``: from the
    pid-namespace init's report, else from the driver's own wait status."""
    if exit_info is not None:
        sig = exit_info.get("signal")
        code = exit_info.get("exit")
        res.cpu_s = exit_info.get("cpu_s")
        res.maxrss_kb = exit_info.get("maxrss_kb")
    else:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        res.cpu_s = ru.ru_utime + ru.ru_stime if ru is not None else None
        res.maxrss_kb = ru.ru_maxrss if ru is not None else None
    if res.cpu_s is not None:
        res.cpu_s = round(res.cpu_s, 4)
    if sig is not None:
        res.signal = signal_name(sig)
    return sig, code


def _reported(res: ExecResult, result: dict[str, Any], sig: int | None, code: int | None) -> ExecResult:
    """The outcome the child reported, unless the program died or exited non-zero after a pass."""
    kind = result["kind"]
    if kind == "pass" and code != 0:
        # Reported a pass but then died or exited non-zero: not a clean pass.
        kind = "killed" if sig is not None else "exception"
        res.error_type = "ExitAfterPass"
        res.message = f"exited with {res.signal or code} after the tests passed"
        res.kind = kind
        return res
    res.kind = kind
    res.error_type = result.get("error_type")
    res.message = result.get("message")
    res.line = result.get("line")
    res.source_line = result.get("source_line")
    return res


def classify(
    tail: bytes, nonce: str, status: int, ru: Any, timed_out: bool, duration: float, lim: Limits,
    *, status_lines: bytes | None = None,
) -> ExecResult:
    """The outcome of one program from its status lines (its own pipe; ``None``: found in the stderr
    tail, the old protocol), stderr tail, wait status and rusage.

    Raises :class:`SandboxError` when the child never reported ``ready`` (the sandbox setup failed).
    """
    result, exit_info, ready = parse_status(tail if status_lines is None else status_lines, nonce)
    stderr = clean_tail(tail, nonce)
    res = ExecResult(kind="killed", duration_s=round(duration, 4), stderr_tail=stderr)
    res.returncode = os.waitstatus_to_exitcode(status)
    sig, code = _exit_status(res, exit_info, status, ru)
    if result is not None:
        res.isolation = result.get("isolation") or {}

    if timed_out:
        res.kind, res.error_type = "timeout", "WallTimeout"
        res.message = f"wall-clock limit of {lim.timeout_s:g} s"
        return res
    if not ready:
        # The program never started: the sandbox setup failed (bad interpreter, limits too low...).
        raise SandboxError(
            f"sandbox setup failed (status {res.returncode}): {stderr[-800:] or 'no output'}"
        )
    if result is not None and result.get("kind") in KINDS:
        return _reported(res, result, sig, code)
    if sig is not None:
        cpu_hit = res.cpu_s is not None and res.cpu_s >= lim.cpu_limit - 0.05
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_hit):
            res.kind, res.error_type = "timeout", "CpuTimeout"
            res.message = f"CPU limit of {lim.cpu_limit} s"
        else:
            res.kind, res.error_type = "killed", res.signal
            res.message = f"killed by {res.signal}"
        return res
    if "MemoryError" in stderr[-2000:]:
        res.kind, res.error_type, res.message = "killed", "MemoryError", "out of memory"
        return res
    res.kind, res.error_type = "exception", "EarlyExit"
    res.message = f"exited with status {code} before reporting a result"
    return res
