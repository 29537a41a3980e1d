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
- a fresh temporary directory (deleted afterwards), a scrubbed environment, stdin at /dev/null.

Outcome kinds (:data:`KINDS`): ``pass``; ``assertion`` (AssertionError); ``syntax``
(SyntaxError/IndentationError/TabError at compile time); ``exception`` (any other exception,
incl. SystemExit; ``error_type`` names it); ``timeout`` (wall clock, or the CPU limit: SIGXCPU,
or SIGKILL after the CPU hard limit); ``killed`` (another signal, or MemoryError). The child
reports its outcome as a nonce-tagged JSON line on stderr, so a program that merely exits 0
(e.g. ``os._exit(0)`` before the tests run) does not pass.

Threat model: generated code that is wrong, loops, forks, allocates, writes or deletes files,
opens sockets or signals its parent - not a deliberate attack on the grader from inside the
interpreter running the check (a program can always tamper with the Python objects of the
check that runs in its own interpreter).
"""

from __future__ import annotations

import errno
import os
import pwd
import queue
import secrets
import selectors
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import InputError
from ..provenance import available_cores

KINDS: tuple[str, ...] = ("pass", "assertion", "exception", "syntax", "timeout", "killed")
TAG = "__TOKPROBE_SANDBOX__"
_TAIL_BYTES = 64 * 1024
_CHILD_SOURCE: str | None = None


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the program): a bug or a machine that cannot run it."""


class SandboxWarning(UserWarning):
    """An isolation feature is not available on this machine."""


@dataclass(frozen=True)
class Limits:
    """Per-program limits. ``cpu_s`` defaults to ``timeout_s`` (rounded up)."""

    timeout_s: float = 10.0
    cpu_s: int | None = None
    memory_bytes: int = 1 << 30
    fsize_bytes: int = 16 << 20
    nproc: int = 16
    nofile: int = 256
    tmpfs_bytes: int = 32 << 20

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise InputError(f"timeout must be > 0 s, got {self.timeout_s}")
        if self.cpu_s is not None and self.cpu_s < 1:
            raise InputError(f"CPU limit must be >= 1 s, got {self.cpu_s}")
        if self.memory_bytes < 64 << 20:
            raise InputError("memory limit must be at least 64 MiB (the interpreter needs it)")
        if self.nproc < 1 or self.nofile < 16 or self.fsize_bytes < 0:
            raise InputError("nproc must be >= 1, nofile >= 16 and fsize >= 0")

    @property
    def cpu_limit(self) -> int:
        return int(self.cpu_s if self.cpu_s is not None else max(1, -(-self.timeout_s // 1)))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cpu_s"] = self.cpu_limit
        return d


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


def _child_source() -> str:
    global _CHILD_SOURCE
    if _CHILD_SOURCE is None:
        _CHILD_SOURCE = (Path(__file__).with_name("_child.py")).read_text(encoding="utf-8")
    return _CHILD_SOURCE


# --------------------------------------------------------------------------------------------
# uids for the parallel slots (root only)


def _mapped_uid_top() -> int:
    """Highest uid mapped into our user namespace (65535 in many containers)."""
    top = 65535
    try:
        for line in Path("/proc/self/uid_map").read_text().splitlines():
            inside, _outside, count = (int(x) for x in line.split())
            top = max(top, inside + count - 1)
    except (OSError, ValueError):
        pass
    return top


def _uids_in_use() -> set[int]:
    used: set[int] = set()
    for entry in _proc_pids():
        st = _proc_status(entry)
        if st:
            used.add(st[0])
    return used


def _lock_dir() -> Path:
    d = Path(tempfile.gettempdir()) / "tokprobe-sandbox-uids"
    d.mkdir(mode=0o755, exist_ok=True)
    return d


def _lease_uid(uid: int) -> int | None:
    """An exclusive flock on a per-uid lock file (an fd, held while the uid is in use), or None
    if another Sandbox - in this process or another tokprobe process - holds that uid."""
    import fcntl

    fd = os.open(_lock_dir() / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _pick_slot_uids(n: int) -> tuple[list[int], list[int]]:
    """``n`` uids unknown to passwd, used by no process and leased by no other Sandbox, from the
    top of the mapped range; returns (uids, lease fds)."""
    top = min(_mapped_uid_top(), 2**31 - 2)
    in_use = _uids_in_use()
    uids: list[int] = []
    fds: list[int] = []
    uid = top
    while len(uids) < n and uid > 1000 and top - uid < 100_000:
        if uid not in (65534, 65535) and uid not in in_use:
            try:
                pwd.getpwuid(uid)
            except KeyError:
                fd = _lease_uid(uid)
                if fd is not None:
                    uids.append(uid)
                    fds.append(fd)
        uid -= 1
    if len(uids) < n:
        for fd in fds:
            os.close(fd)
        raise SandboxError("no free unprivileged uid for the sandbox")
    return uids, fds


# --------------------------------------------------------------------------------------------
# /proc helpers


def _proc_pids() -> list[int]:
    try:
        return [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return []


def _proc_status(pid: int) -> tuple[int, str, int] | None:
    """(real uid, state letter, session id) of ``pid``, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        with open(f"/proc/{pid}/status", "rb") as fh:
            status = fh.read()
    except OSError:
        return None
    try:
        rest = stat[stat.rindex(b")") + 2 :].split()
        state = rest[0].decode()
        sid = int(rest[3])
        uid = -1
        for line in status.splitlines():
            if line.startswith(b"Uid:"):
                uid = int(line.split()[1])
                break
        return uid, state, sid
    except (ValueError, IndexError):
        return None


def leftover_processes(*, uid: int | None = None, sid: int | None = None) -> list[int]:
    """Live (non-zombie) processes with real ``uid`` or in session ``sid``."""
    me = os.getpid()
    found = []
    for pid in _proc_pids():
        if pid == me:
            continue
        st = _proc_status(pid)
        if st is None or st[1] in ("Z", "X"):
            continue
        if (uid is not None and st[0] == uid) or (sid is not None and st[2] == sid):
            found.append(pid)
    return found


def _kill_all(*, pgid: int, uid: int | None, sid: int, deadline_s: float = 5.0) -> list[int]:
    """SIGKILL the process group, the session and (root) every process of ``uid``; returns survivors."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    end = time.monotonic() + deadline_s
    while True:
        pids = leftover_processes(uid=uid, sid=sid)
        if not pids:
            return []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if time.monotonic() > end:
            return leftover_processes(uid=uid, sid=sid)
        time.sleep(0.005)


# --------------------------------------------------------------------------------------------


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
        python: str | os.PathLike | None = None,
        isolate: bool = True,
        tmp_root: str | os.PathLike | None = None,
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
            uids, self._lease_fds = _pick_slot_uids(self.jobs)
            self.slot_uids = list(uids)
        self._slots: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(self.jobs):
            self._slots.put(i)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._isolation: dict[str, Any] | None = None
        self.warnings: list[str] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "Sandbox":
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
        msgs = []
        if self.isolate:
            if not iso.get("net"):
                msgs.append("no network namespace: sandboxed programs can reach the network")
            if not iso.get("pid"):
                msgs.append("no pid namespace: leftover processes are found by uid/session only")
            if not iso.get("private_tmp"):
                msgs.append("no private /tmp: programs share the machine's /tmp")
        if not self.privileged:
            msgs.append(
                "not running as root: programs run as your own user, so RLIMIT_NPROC counts your "
                "processes and files you can write are writable by the programs"
            )
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

    def submit(self, program: str) -> "Future[ExecResult]":
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
        lim = self.limits
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
                "cpu_s": lim.cpu_limit,
                "memory_bytes": lim.memory_bytes,
                "fsize_bytes": lim.fsize_bytes,
                "nproc": lim.nproc if uid is not None else _user_nproc(lim.nproc),
                "nofile": lim.nofile,
                "tmpfs_bytes": lim.tmpfs_bytes,
                "uid": uid,
                "gid": uid,
                "ppid": os.getpid(),
                "isolate": self.isolate,
            }
            return self._execute(cfg, workdir, uid)
        finally:
            shutil.rmtree(workdir, onerror=_rm_error)

    def _execute(self, cfg: dict[str, Any], workdir: str, uid: int | None) -> ExecResult:
        import json
        import subprocess

        lim = self.limits
        nonce = secrets.token_hex(16)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": workdir,
            "TMPDIR": workdir,
        }
        argv = [self.python, "-I", "-B", "-c", _child_source(), json.dumps(cfg)]
        t0 = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
        pid = proc.pid
        try:
            assert proc.stdin is not None and proc.stderr is not None
            try:
                proc.stdin.write(nonce.encode() + b"\n")
                proc.stdin.close()
            except BrokenPipeError:
                pass
            tail, status, ru, timed_out = self._supervise(proc, t0 + lim.timeout_s)
            duration = time.monotonic() - t0
        finally:
            survivors = _kill_all(pgid=pid, uid=uid, sid=pid)
            if proc.returncode is None:  # only if supervision itself failed
                try:
                    proc.kill()
                    proc.wait(5)
                except Exception:  # noqa: BLE001
                    pass
            if proc.stderr is not None:
                proc.stderr.close()
        if survivors:
            raise SandboxError(f"could not kill sandboxed processes {survivors[:10]}")
        return _classify(tail, nonce, status, ru, timed_out, duration, lim)

    def _supervise(self, proc: Any, deadline: float) -> tuple[bytes, int, Any, bool]:
        """Collect stderr (last 64 KiB) until the child exits or the deadline passes."""
        fd = proc.stderr.fileno()
        os.set_blocking(fd, False)
        tail = bytearray()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ, "err")
        pidfd = -1
        try:
            pidfd = os.pidfd_open(proc.pid)
            sel.register(pidfd, selectors.EVENT_READ, "exit")
        except (AttributeError, OSError):
            pidfd = -1
        timed_out = False
        eof = False
        try:
            while True:
                wpid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if wpid:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                    _, status, ru = os.wait4(proc.pid, 0)
                    break
                wait = remaining if pidfd >= 0 else min(remaining, 0.01)
                if eof and pidfd < 0:
                    time.sleep(min(remaining, 0.005))
                    continue
                for key, _ in sel.select(timeout=wait):
                    if key.data == "err":
                        eof = _drain(fd, tail) or eof
                        if eof:
                            sel.unregister(fd)
            if not eof:
                _drain(fd, tail)
        finally:
            sel.close()
            if pidfd >= 0:
                os.close(pidfd)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return bytes(tail), status, ru, timed_out


def _drain(fd: int, tail: bytearray) -> bool:
    """Read what is available; True at EOF."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            return True
        if not chunk:
            return True
        tail += chunk
        if len(tail) > 2 * _TAIL_BYTES:
            del tail[: len(tail) - _TAIL_BYTES]


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


def _user_nproc(extra: int) -> int:
    """Non-root: RLIMIT_NPROC counts all processes of our user, so allow current + ``extra``."""
    me = os.getuid()
    return len(leftover_processes(uid=me)) + 1 + extra


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"SIG{num}"


def _parse_status(tail: bytes, nonce: str) -> tuple[dict | None, dict | None, bool]:
    import json

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


def _clean_tail(tail: bytes, nonce: str) -> str:
    prefix = f"{TAG} {nonce} ".encode()
    lines = [ln for ln in tail.split(b"\n") if not ln.startswith(prefix)]
    text = b"\n".join(lines).strip().decode("utf-8", "replace")
    return text[-4000:]


def _classify(
    tail: bytes, nonce: str, status: int, ru: Any, timed_out: bool, duration: float, lim: Limits
) -> ExecResult:
    result, exit_info, ready = _parse_status(tail, nonce)
    stderr = _clean_tail(tail, nonce)
    res = ExecResult(kind="killed", duration_s=round(duration, 4), stderr_tail=stderr)
    res.returncode = os.waitstatus_to_exitcode(status)
    # The program's own exit status: from the pid-namespace init's report, else the driver's.
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
    if result is not None:
        res.isolation = result.get("isolation") or {}
    if sig is not None:
        res.signal = _signal_name(sig)

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
