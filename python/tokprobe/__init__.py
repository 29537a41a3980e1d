"""tokprobe: a token-level profiler for code LLMs in GGUF form.

The Python API in a few names:

- ``tokprobe.core``: native statistics over logits matrices (entropy, KL, class mass, top-k).
- ``tokprobe.load``: open a GGUF model (name or path) through llama.cpp.
- analyses: ``tokprobe.vocab``, ``tokprobe.coldstart``, ``tokprobe.compare``, ``tokprobe.codegen``.
- ``tokprobe.study``: a whole study with a report.
"""

from __future__ import annotations

from ._version import __version__
from .errors import Error

__all__ = ["__version__", "Error", "load"]


def __getattr__(name: str):
    # Lazy: importing tokprobe must not load llama.cpp (slow, and not needed by core users).
    if name == "load":
        from .models import load

        return load
    raise AttributeError(f"module 'tokprobe' has no attribute {name!r}")
