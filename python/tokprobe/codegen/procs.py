"""Process handling of the sandbox: uids for the parallel slots, /proc scanning, supervising one
child (its stderr, its deadline) and killing everything it left behind.

As root, each parallel slot runs its programs under a dedicated unprivileged uid, chosen from the
top of the uid range mapped into this machine's user namespace, unknown to passwd, used by no
process and leased (an exclusive ``flock``) by no other Sandbox in this or another process. Every
process a program leaves behind is then found by uid (and by session) and killed.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pwd
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TAIL_BYTES = 64 * 1024  # the program's stderr kept per program (its last 64 KiB)
STATUS_BYTES = 1 << 20  # status lines kept per program (their own pipe: never pushed out by stderr)
STATUS_TAG = b"__TOKPROBE_SANDBOX__ "  # verdict.TAG: only such lines are kept from the status pipe


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the program): a bug or a machine that cannot run it."""


# -- uids for the parallel slots (root only) ---------------------------------------------------------
def mapped_uid_top() -> int:
    """Highest uid mapped into our user namespace (65535 in many containers)."""
    top = 65535
    try:
        for line in Path("/proc/self/uid_map").read_text().splitlines():
            inside, _outside, count = (int(x) for x in line.split())
            top = max(top, inside + count - 1)
    except (OSError, ValueError):
        pass
    return top


def uids_in_use() -> set[int]:
    used: set[int] = set()
    for entry in proc_pids():
        st = proc_status(entry)
        if st:
            used.add(st[0])
    return used


def _lock_dir() -> Path:
    d = Path(tempfile.gettempdir()) / "tokprobe-sandbox-uids"
    d.mkdir(mode=0o755, exist_ok=True)
    return d


def lease_uid(uid: int) -> int | None:
    """An exclusive flock on a per-uid lock file (an fd, held while the uid is in use), or None
    if another Sandbox - in this process or another tokprobe process - holds that uid."""
    fd = os.open(_lock_dir() / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def pick_slot_uids(n: int) -> tuple[list[int], list[int]]:
    """``n`` uids unknown to passwd, used by no process and leased by no other Sandbox, from the
    top of the mapped range; returns (uids, lease fds)."""
    top = min(mapped_uid_top(), 2**31 - 2)
    in_use = uids_in_use()
    uids: list[int] = []
    fds: list[int] = []
    uid = top
    while len(uids) < n and uid > 1000 and top - uid < 100_000:
        if uid not in (65534, 65535) and uid not in in_use:
            try:
                pwd.getpwuid(uid)
            except KeyError:
                fd = lease_uid(uid)
                if fd is not None:
                    uids.append(uid)
                    fds.append(fd)
        uid -= 1
    if len(uids) < n:
        for fd in fds:
            os.close(fd)
        raise SandboxError("no free unprivileged uid for the sandbox")
    return uids, fds


# -- /proc ---------------------------------------------------------------------------------------------
def proc_pids() -> list[int]:
    try:
        return [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return []


def proc_status(pid: int) -> tuple[int, str, int] | None:
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
    for pid in proc_pids():
        if pid == me:
            continue
        st = proc_status(pid)
        if st is None or st[1] in ("Z", "X"):
            continue
        if (uid is not None and st[0] == uid) or (sid is not None and st[2] == sid):
            found.append(pid)
    return found


def kill_all(*, pgid: int, uid: int | None, sid: int, deadline_s: float = 5.0) -> list[int]:
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


# -- one child -----------------------------------------------------------------------------------------
@dataclass
class ChildExit:
    """How a supervised child ended: its stderr tail, wait status and rusage, wall time."""

    tail: bytes
    status: int
    rusage: Any
    timed_out: bool
    duration_s: float
    status_lines: bytes = b""  # what the child wrote on its status pipe (tagged lines only)


def run_child(argv: list[str], *, cwd: str, env: dict[str, str], stdin_line: bytes, uid: int | None,
              timeout_s: float, status_pipe: tuple[int, int]) -> ChildExit:
    """Start ``argv`` in a new session, hand it ``stdin_line``, supervise it until it exits or
    ``timeout_s`` passes, then SIGKILL its process group, its session and (root) every process of
    ``uid``. Raises :class:`SandboxError` if a process survives. ``status_pipe`` (read end, write
    end; both are closed here) is the child's status channel: the write end is passed to the child,
    so however much the program writes to stderr, the status lines stay whole."""
    t0 = time.monotonic()
    status_r, status_w = status_pipe
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
            pass_fds=(status_w,),
        )
    finally:
        os.close(status_w)  # the child holds the write end: EOF once every process of it is gone
    pid = proc.pid
    status_buf = bytearray()
    try:
        assert proc.stdin is not None and proc.stderr is not None
        try:
            proc.stdin.write(stdin_line)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        tail, status, ru, timed_out = supervise(proc, t0 + timeout_s, status_r, status_buf)
        duration = time.monotonic() - t0
    finally:
        os.close(status_r)
        survivors = kill_all(pgid=pid, uid=uid, sid=pid)
        if proc.returncode is None:  # only if supervision itself failed
            try:
                proc.kill()
                proc.wait(5)
            except Exception:  # the error that ended supervision is the one to report
                pass
        if proc.stderr is not None:
            proc.stderr.close()
    if survivors:
        raise SandboxError(f"could not kill sandboxed processes {survivors[:10]}")
    return ChildExit(tail, status, ru, timed_out, duration, bytes(status_buf))


def supervise(proc: subprocess.Popen[bytes], deadline: float, status_fd: int,
              status_buf: bytearray) -> tuple[bytes, int, Any, bool]:
    """Collect stderr (last 64 KiB) and the status pipe (into ``status_buf``) until the child exits or
    the deadline passes (then its process group is killed); returns (stderr tail, wait status, rusage,
    timed out)."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    tail = bytearray()
    sel = selectors.DefaultSelector()
    for f, name in ((fd, "err"), (status_fd, "status")):
        os.set_blocking(f, False)
        sel.register(f, selectors.EVENT_READ, name)
    pidfd = -1
    try:
        pidfd = os.pidfd_open(proc.pid)
        sel.register(pidfd, selectors.EVENT_READ, "exit")
    except (AttributeError, OSError):
        pidfd = -1
    timed_out = False
    open_fds = {fd: tail, status_fd: status_buf}
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
            if not open_fds and pidfd < 0:
                time.sleep(min(remaining, 0.005))
                continue
            for key, _ in sel.select(timeout=wait):
                if key.data in ("err", "status") and _read_into(key.fd, open_fds[key.fd], key.data == "status"):
                    sel.unregister(key.fd)
                    del open_fds[key.fd]
        for f, buf in open_fds.items():
            _read_into(f, buf, f == status_fd)
    finally:
        sel.close()
        if pidfd >= 0:
            os.close(pidfd)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return bytes(tail), status, ru, timed_out


def _read_into(fd: int, buf: bytearray, is_status: bool) -> bool:
    return drain_status(fd, buf) if is_status else drain(fd, buf)


def read_available(fd: int, sink: Callable[[bytes], None]) -> bool:
    """Pass each chunk readable from non-blocking ``fd`` to ``sink``, one at a time; True at EOF."""
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
        sink(chunk)


def drain(fd: int, tail: bytearray) -> bool:
    """Read what is available into ``tail`` (keeping its last 64 KiB); True at EOF."""
    def keep(chunk: bytes) -> None:
        tail.extend(chunk)
        if len(tail) > 2 * TAIL_BYTES:
            del tail[: len(tail) - TAIL_BYTES]

    return read_available(fd, keep)


def drain_status(fd: int, buf: bytearray) -> bool:
    """Read the status pipe into ``buf``, keeping only complete tagged lines (and a last, partial one
    that may become one); True at EOF. Anything else a program may write there is dropped, so it
    cannot push a status line out: each chunk is filtered as it is read, so a flood read in one go
    cannot push out a tagged line read before it."""
    return read_available(fd, lambda chunk: _keep_tagged(buf, chunk))


def _keep_tagged(buf: bytearray, chunk: bytes) -> None:
    """Append the tagged lines of ``chunk`` (continuing ``buf``'s partial last line) to ``buf``."""
    start = buf.rfind(b"\n") + 1
    *lines, partial = (bytes(buf[start:]) + chunk).split(b"\n")
    del buf[start:]
    for ln in lines:
        if ln.startswith(STATUS_TAG):
            buf += ln + b"\n"
    if partial[: len(STATUS_TAG)] == STATUS_TAG[: len(partial)]:
        buf += partial
    if len(buf) > STATUS_BYTES:
        del buf[: len(buf) - STATUS_BYTES]
