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
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable
from typing import Any

from ..errors import Error

_LOCK = threading.Lock()
_LIB: Any = None
_CALLBACK: Any = None  # the ctypes callback object; must outlive every llama.cpp call
_ERRORS: collections.deque[str] = collections.deque(maxlen=8)
_LISTENER: Callable[[int, str], None] | None = None

GGML_LOG_LEVEL_ERROR = 4
GGML_LOG_LEVEL_CONT = 5


def _on_log(level: int, text: bytes | None, _user: Any) -> None:
    # Runs for every llama.cpp/ggml log line: keep it cheap and never raise.
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
    except Exception:  # pragma: no cover - a callback from C must not propagate
        pass


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
            _LIB = llama_cpp
    return _LIB


def last_error(default: str = "") -> str:
    """The most recent llama.cpp error line (cleared by :func:`clear_errors`), or ``default``."""
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
