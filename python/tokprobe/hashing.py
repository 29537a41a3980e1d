"""Stable hashing of JSON-like values: the one rule behind every cache key and run key."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def stable_json(obj: Any) -> str:
    """``obj`` as JSON with sorted keys; values JSON cannot hold are written with ``str``."""
    return json.dumps(obj, sort_keys=True, default=str)


def stable_hash(obj: Any, length: int | None = None) -> str:
    """sha256 (hex) of :func:`stable_json`; the first ``length`` hex digits when given."""
    digest = hashlib.sha256(stable_json(obj).encode("utf-8")).hexdigest()
    return digest if length is None else digest[:length]
