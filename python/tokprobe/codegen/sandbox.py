"""Run untrusted programs (model-generated code) in sandboxed subprocesses.

Nothing generated ever runs inside the tool's process. Each program runs in its own
``python -I -B`` subprocess (isolated mode: no user site, no environment variables, no cwd on
``sys.path``; no bytecode written) with:

- a wall-clock timeout (the whole process group and every process of the sandbox's uid is
  killed with SIGKILL when it expires) and an RLIMIT_CPU limit;
- RLIMIT_AS (memory), RLIMIT_FSIZE (largest file), RLIMIT_NPROC (processes), RLIMIT_NOFILE,
  no core dumps, ``no_new_privs``;
- when the tool runs as root: a dedicated unprivileged uid/gid per parallel slot (chosen from
  the top of the uid range mapped into this machine's user namespace, checked to be unused),
  so that RLIMIT_NPROC is enforced by the kernel (it is not for root), the program can neither
  signal the tool nor write outside its directory, and every process it leaves behind can be
  found and killed by uid;
- new network, mount and pid namespaces where the OS allows them: no network (only a down
  loopback), private tmpfs on /tmp, /var/tmp, /dev/shm and /run/lock (the program's working
  directory is the private /tmp), a fresh /proc, and a pid namespace whose end kills anything
  the program left running. As a non-root user the namespaces are created inside a new user
  namespace; the program then keeps the user's uid, so files the user can write stay writable
  (a warning says so);
- a seccomp filter that makes ``socket(AF_UNIX, ...)`` fail (x86_64, aarch64), so host services
  listening on unix-domain sockets (docker, dbus, ...) are out of reach even through the file system;
- a fresh temporary directory (deleted afterwards), a scrubbed environment, stdin at /dev/null;
- the verdict on a pipe of its own, never mixed with the program's stderr (:mod:`.verdict`).

Without root the program keeps your uid: :meth:`Sandbox.probe` warns what that means, and all
parallel slots share one RLIMIT_NPROC budget counted once at start (:func:`.limits.shared_nproc`).

Outcome kinds and the status line the child reports them with: :mod:`.verdict`; the limits:
:mod:`.limits`; uids, /proc scanning and killing leftovers: :mod:`.procs`.

Threat model: generated code that is wrong, loops, forks, allocates, writes or deletes files,
opens sockets or signals its parent - not a deliberate attack on the grader from inside the
interpreter running the check (a program can always tamper with the Python objects of the
check that runs in its own interpreter).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..provenance import available_cores
from .limits import Limits, child_limits, shared_nproc
from .procs import SandboxError, leftover_processes, pick_slot_uids, run_child
from .verdict import KINDS, ExecResult, classify, new_nonce

__all__ = ["KINDS", "ExecResult", "Limits", "Sandbox", "SandboxError", "SandboxWarning", "leftover_processes"]

_CHILD_SOURCE: str | None = None


class SandboxWarning(UserWarning):
    """An isolation feature is not available on this machine."""


class Sandbox:
    """Runs programs in parallel sandboxed subprocesses.

    >>> with Sandbox(Limits(timeout_s=5)) as sb:
    ...     sb.run("assert 1 + 1 == 2").kind
    'pass'

    ``jobs`` parallel slots (default: the available cores); ``python`` is the interpreter
    (default: this one); ``isolate=False`` skips the namespaces (limits and uid still apply).
    """

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        jobs: int | None = None,
        python: str | os.PathLike[str] | None = None,
        isolate: bool = True,
        tmp_root: str | os.PathLike[str] | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.jobs = int(jobs) if jobs else available_cores()
        if self.jobs < 1:
            raise InputError(f"jobs must be >= 1, got {jobs}")
        self.python = str(python or sys.executable)
        if not os.access(self.python, os.X_OK):
            raise InputError(f"sandbox interpreter not executable: {self.python}")
        self.isolate = isolate
        self.tmp_root = str(tmp_root) if tmp_root else None
        self.privileged = os.geteuid() == 0
        self._lease_fds: list[int] = []
        self.slot_uids: list[int | None] = [None] * self.jobs
        if self.privileged:
            uids, self._lease_fds = pick_slot_uids(self.jobs)
            self.slot_uids = list(uids)
        # Without root every slot shares one process budget, counted once (see shared_nproc).
        self.nproc_budget = None if self.privileged else shared_nproc(self.limits, self.jobs)
        self._slots: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(self.jobs):
            self._slots.put(i)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._isolation: dict[str, Any] | None = None
        self.warnings: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            fds, self._lease_fds = self._lease_fds, []
        for fd in fds:
            os.close(fd)

    def __del__(self) -> None:
        for fd in getattr(self, "_lease_fds", []):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- API ---------------------------------------------------------------------------------
    def probe(self) -> dict[str, Any]:
        """Run a trivial program; return (and remember) the isolation this machine gives.

        Warns (:class:`SandboxWarning`) for each missing feature. Raises :class:`SandboxError`
        when even a trivial program cannot run.
        """
        if self._isolation is not None:
            return self._isolation
        res = self.run("import math, json, collections, re, hashlib, itertools\nassert math.gcd(4, 6) == 2\n")
        if res.kind != "pass":
            raise SandboxError(
                f"the sandbox cannot run a trivial program ({res.kind}: {res.error_type} {res.message}); "
                f"stderr: {res.stderr_tail[-500:]!r}"
            )
        iso = dict(res.isolation)
        iso["privileged"] = self.privileged
        iso["slot_uids"] = [u for u in self.slot_uids if u is not None]
        msgs: list[str] = []
        if self.isolate:
            if not iso.get("net"):
                msgs.append("no network namespace: sandboxed programs can reach the network")
            if not iso.get("pid"):
                msgs.append("no pid namespace: leftover processes are found by uid/session only")
            if not iso.get("private_tmp"):
                msgs.append("no private /tmp: programs share the machine's /tmp")
        if iso.get("unix_sockets", True):
            msgs.append("no seccomp filter: sandboxed programs can connect to unix-domain sockets of this machine")
        if not self.privileged:
            msgs.append(unprivileged_warning(iso, self.nproc_budget))
        for m in msgs:
            warnings.warn(m, SandboxWarning, stacklevel=2)
        self.warnings = msgs
        iso["warnings"] = msgs
        self._isolation = iso
        return iso

    def settings(self) -> dict[str, Any]:
        """What to record in provenance."""
        return {
            "limits": self.limits.to_dict(),
            "jobs": self.jobs,
            "python": self.python,
            "isolate": self.isolate,
            "isolation": self._isolation,
        }

    def run(self, program: str) -> ExecResult:
        """Run one program (blocks the calling thread; uses one slot)."""
        slot = self._slots.get()
        try:
            return self._run_in_slot(program, slot)
        finally:
            self._slots.put(slot)

    def submit(self, program: str) -> Future[ExecResult]:
        """Run ``program`` on the pool; returns a Future."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="tokprobe-sandbox")
            pool = self._pool
        return pool.submit(self.run, program)

    def run_many(
        self,
        programs: Sequence[str] | Iterable[str],
        progress: Callable[[int, int], None] | None = None,
    ) -> list[ExecResult]:
        """Run programs in parallel; results in input order."""
        progs = list(programs)
        futures = [self.submit(p) for p in progs]
        done = 0
        if progress:
            progress(0, len(progs))
        out: list[ExecResult] = []
        for fut in futures:
            out.append(fut.result())
            done += 1
            if progress:
                progress(done, len(progs))
        return out

    # -- one run -----------------------------------------------------------------------------
    def _run_in_slot(self, program: str, slot: int) -> ExecResult:
        uid = self.slot_uids[slot]
        workdir = tempfile.mkdtemp(prefix="tokprobe-sbx-", dir=self.tmp_root)
        try:
            prog_path = os.path.join(workdir, "program.py")
            with open(prog_path, "w", encoding="utf-8", errors="surrogatepass") as fh:
                fh.write(program)
            os.chmod(prog_path, 0o444)
            if uid is not None:
                os.chown(workdir, uid, uid)
            os.chmod(workdir, 0o700)
            cfg = {
                "program": "program.py",
                **child_limits(self.limits, uid, self.nproc_budget),
                "uid": uid,
                "gid": uid,
                "ppid": os.getpid(),
                "isolate": self.isolate,
            }
            return execute(self.python, cfg, workdir, uid, self.limits)
        finally:
            shutil.rmtree(workdir, onerror=_rm_error)


def unprivileged_warning(iso: dict[str, Any], nproc_budget: int | None) -> str:
    """What the sandbox cannot do without root, said plainly."""
    parts = ["not running as root: the sandbox cannot give programs a uid of their own. They run as "
             "your user: they can read and write every file you can (outside the private /tmp)"]
    if not iso.get("pid"):
        parts.append("see and signal your processes, tokprobe included (no pid namespace)")
    parts.append(f"and share one process limit of {nproc_budget} with all your processes (RLIMIT_NPROC "
                 "counts per user)" if nproc_budget else "and share the process limit with your processes")
    return "; ".join(parts) + ". Run as root (e.g. in a container) for the full sandbox"


def child_source() -> str:
    """The source of the sandbox child (``_child.py``), read once."""
    global _CHILD_SOURCE
    if _CHILD_SOURCE is None:
        _CHILD_SOURCE = (Path(__file__).with_name("_child.py")).read_text(encoding="utf-8")
    return _CHILD_SOURCE


def execute(python: str, cfg: dict[str, Any], workdir: str, uid: int | None, limits: Limits) -> ExecResult:
    """Run the child with ``cfg`` in ``workdir`` (a scrubbed environment) and classify its outcome."""
    nonce = new_nonce()
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": workdir,
        "TMPDIR": workdir,
    }
    status_r, status_w = os.pipe()  # the status channel, apart from the program's stderr
    argv = [python, "-I", "-B", "-c", child_source(), json.dumps({**cfg, "status_fd": status_w})]
    done = run_child(argv, cwd=workdir, env=env, stdin_line=nonce.encode() + b"\n", uid=uid,
                     timeout_s=limits.timeout_s, status_pipe=(status_r, status_w))
    return classify(done.tail, nonce, done.status, done.rusage, done.timed_out, done.duration_s, limits,
                    status_lines=done.status_lines)


def _rm_error(func: Callable[..., Any], path: str, exc_info: Any) -> None:
    # Non-root: the program may have removed write permission from its own directories.
    try:
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass
