"""The one place that imports llama_cpp (low-level ctypes API only).

``lib()`` imports it on first use, silences llama.cpp's logging with a Python callback (a reference
is kept for the life of the process), and calls ``llama_backend_init`` exactly once.

Before the import it sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already sets it: the
llama.cpp wheel is built with OpenMP, whose default spin-waiting barriers collapse when the cores
are shared with other processes (measured on 2 shared cores: 16 single-token gemma3 decodes took
2.8-17.5 s with spinning, 0.33 s passive). Export ``OMP_WAIT_POLICY=ACTIVE`` to keep spinning on
a dedicated machine. It only takes effect if libgomp was not loaded earlier in the process. The callback
keeps the last few error lines, so a failed load or quantization can say why in one line, and lets
one listener at a time (the quantizer's progress) see every log line.

Ctrl-C: an interrupt that lands while llama.cpp logs is raised inside the ctypes callback, where
ctypes would print it and drop it (the run went on). The callback records it instead, and ``lib()``
hands out the module behind a proxy whose C functions re-raise it as soon as the call returns.
"""

from __future__ import annotations

import _ctypes
import collections
import os
import re
import threading
from collections.abc import Callable
from typing import Any

from ..errors import Error

_LOCK = threading.Lock()
_LIB: Any = None
_CALLBACK: Any = None  # the ctypes callback object; must outlive every llama.cpp call
_ERRORS: collections.deque[str] = collections.deque(maxlen=8)
_LISTENER: Callable[[int, str], None] | None = None
_INTERRUPTED = threading.Event()  # a KeyboardInterrupt caught in the log callback, not yet re-raised
# Summary lines llama.cpp logs after the line that names the cause of a failure.
_GENERIC = ("failed to load model", "failed to initialize the context", "failed to create context",
            "failed to quantize")
_PREFIX = re.compile(r"^[A-Za-z_]+: error loading model: ")

GGML_LOG_LEVEL_ERROR = 4
GGML_LOG_LEVEL_CONT = 5


def _on_log(level: int, text: bytes | None, _user: Any) -> None:
    # Runs for every llama.cpp/ggml log line: keep it cheap and never raise (ctypes drops what a callback
    # raises, a Ctrl-C included: that one is recorded and re-raised after the C call, see _Lib).
    try:
        if text is None:
            return
        if level == GGML_LOG_LEVEL_ERROR:
            s = text.decode("utf-8", "replace").strip()
            if s and not set(s) <= set("=\n "):
                _ERRORS.append(s)
        listener = _LISTENER
        if listener is not None:
            listener(level, text.decode("utf-8", "replace"))
    except KeyboardInterrupt:
        _INTERRUPTED.set()
    except Exception:  # pragma: no cover - a callback from C must not propagate
        pass


def raise_pending_interrupt() -> None:
    """Re-raise a Ctrl-C that landed inside the log callback (a no-op when there was none)."""
    if _INTERRUPTED.is_set():
        _INTERRUPTED.clear()
        raise KeyboardInterrupt


def _checked(fn: Any) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        rv = fn(*args)
        if _INTERRUPTED.is_set():
            raise_pending_interrupt()
        return rv

    call.__name__ = getattr(fn, "__name__", "llama_call")
    return call


class _Lib:
    """The llama_cpp module, with each C function wrapped by :func:`_checked` (cached on first use)."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        obj = getattr(self._module, name)
        if isinstance(obj, _ctypes.CFuncPtr):
            obj = _checked(obj)
        setattr(self, name, obj)
        return obj

    def __dir__(self) -> list[str]:  # the module's names (quantize lists the LLAMA_FTYPE_* constants)
        return sorted(set(dir(self._module)) | set(self.__dict__))


def lib() -> Any:
    """The llama_cpp module, initialised once (quiet logging, backend initialised)."""
    global _LIB, _CALLBACK
    if _LIB is not None:
        return _LIB
    with _LOCK:
        if _LIB is None:
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            try:
                import llama_cpp  # lazy: loading llama.cpp is slow and most commands start without it
            except ImportError as exc:  # pragma: no cover - it is a hard dependency
                raise Error(f"llama-cpp-python is not installed or failed to load: {exc}") from None
            _CALLBACK = llama_cpp.llama_log_callback(_on_log)
            llama_cpp.llama_log_set(_CALLBACK, None)
            llama_cpp.llama_backend_init()
            _LIB = _Lib(llama_cpp)
    return _LIB


def last_error(default: str = "") -> str:
    """The most recent llama.cpp error line that names a cause (cleared by :func:`clear_errors`), or
    ``default``: "check_tensor_dims: tensor 'blk.2.attn_norm.weight' not found" rather than the
    generic "failed to load model" logged after it."""
    for line in reversed(_ERRORS):
        if not line.endswith(_GENERIC):
            return _PREFIX.sub("", line)
    return _ERRORS[-1] if _ERRORS else default


def clear_errors() -> None:
    _ERRORS.clear()


class listen:
    """Context manager routing every llama.cpp log line to ``fn(level, text)`` while active."""

    def __init__(self, fn: Callable[[int, str], None]) -> None:
        self.fn = fn
        self.prev: Callable[[int, str], None] | None = None

    def __enter__(self) -> listen:
        global _LISTENER
        lib()
        self.prev = _LISTENER
        _LISTENER = self.fn
        return self

    def __exit__(self, *exc: object) -> None:
        global _LISTENER
        _LISTENER = self.prev
