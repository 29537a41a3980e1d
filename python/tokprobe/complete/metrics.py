"""Per-probe scores of a completion against the true continuation.

- :func:`normalize`: every run of whitespace becomes one space, and the ends are stripped
  (indentation and trailing blanks do not count; a newline inside a block counts as one space).
- :func:`exact_match`: the normalised texts are equal.
- :func:`edit_similarity`: ``1 - Levenshtein(a, b) / max(len(a), len(b))`` of the normalised texts
  (rapidfuzz's ``Levenshtein.normalized_similarity``; 1.0 when both are empty).
"""

from __future__ import annotations

import re

from rapidfuzz.distance import Levenshtein

_WS = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _WS.sub(" ", text).strip()


def exact_match(completion: str, truth: str) -> bool:
    return normalize(completion) == normalize(truth)


def edit_similarity(completion: str, truth: str) -> float:
    return float(Levenshtein.normalized_similarity(normalize(completion), normalize(truth)))
