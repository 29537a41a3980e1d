"""Advisory locks on run directories: one tokprobe process at a time works in a run directory.

:func:`hold` takes ``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``<dir>/.tokprobe.lock`` and writes the
holder's pid, command and start time into it. A second process gets one :class:`RunDirLocked` line
naming the holder (instead of both recomputing everything, or ``--fresh`` deleting the files the first
one is writing). The kernel drops the lock when its holder exits, however it exits, so a stale lock
file (a killed holder) never blocks anyone: only a live lock counts, the file's text is just the name.

Within one process the lock is re-entrant (a study holds its directory while its compare steps take
theirs): flock conflicts between two descriptors of one process too, so held locks are kept in a
table by path and counted.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import Error

LOCK_NAME = ".tokprobe.lock"


class RunDirLocked(Error):
    """Another process holds the run directory."""


@dataclass
class _Held:
    fd: int
    count: int


_HELD: dict[str, _Held] = {}
_GUARD = threading.Lock()


def lock_path(directory: str | os.PathLike[str]) -> Path:
    return Path(directory) / LOCK_NAME


def holder(directory: str | os.PathLike[str]) -> str:
    """A short description of the holder recorded in the lock file ('pid 123 (tokprobe compare ...)')."""
    try:
        info = json.loads(lock_path(directory).read_text())
        cmd = " ".join(str(a) for a in info.get("argv", []))[:120]
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info.get("since", 0))))
        return f"pid {int(info['pid'])} ({cmd}), since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def acquire(directory: str | os.PathLike[str], what: str = "run") -> None:
    """Take the lock of ``directory`` (created if needed) or raise :class:`RunDirLocked`."""
    d = Path(directory).resolve()
    key = str(d)
    with _GUARD:
        held = _HELD.get(key)
        if held is not None:
            held.count += 1
            return
        d.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path(d), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunDirLocked(f"{what} directory {d} is in use by {holder(d)}; wait for it to finish "
                                   "or use another directory") from None
            raise Error(f"cannot lock {d}: {exc.strerror or exc}") from None
        info = {"pid": os.getpid(), "argv": [_program(), *sys.argv[1:]], "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        _HELD[key] = _Held(fd, 1)


def _program() -> str:
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return "tokprobe" if name in ("__main__.py", "tokprobe") else name


def release(directory: str | os.PathLike[str]) -> None:
    """Give back one hold of ``directory``'s lock (the last one unlocks it)."""
    key = str(Path(directory).resolve())
    with _GUARD:
        held = _HELD.get(key)
        if held is None:
            return
        held.count -= 1
        if held.count <= 0:
            del _HELD[key]
            with contextlib.suppress(OSError):
                os.ftruncate(held.fd, 0)  # the file stays (unlinking it would race a new holder)
            os.close(held.fd)  # closing the descriptor drops the flock


@contextlib.contextmanager
def hold(directory: str | os.PathLike[str], what: str = "run") -> Iterator[None]:
    """``with hold(run_dir): ...``: the lock of ``directory`` for the block."""
    acquire(directory, what)
    try:
        yield
    finally:
        release(directory)


def is_held_here(directory: str | os.PathLike[str]) -> bool:
    return str(Path(directory).resolve()) in _HELD
