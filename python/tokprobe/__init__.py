"""tokprobe: a token-level profiler for code LLMs in GGUF form.

The Python API in a few names:

- ``tokprobe.core``: native statistics over logits matrices (entropy, KL, class mass, top-k).
- ``tokprobe.load``: open a GGUF model (name or path) through llama.cpp.
- analyses: ``tokprobe.vocab``, ``tokprobe.coldstart``, ``tokprobe.compare``, ``tokprobe.complete``,
  ``tokprobe.codegen``.
- ``tokprobe.study``: a whole study with a report.
"""

from __future__ import annotations

from ._version import __version__
from .errors import Error
from .models import load  # tokprobe.models loads llama.cpp only when a model is opened

__all__ = ["__version__", "Error", "load"]
