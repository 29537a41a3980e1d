"""The unbiased pass@k estimator (Chen et al. 2021, "Evaluating Large Language Models Trained on Code").

For one problem with ``n`` samples of which ``c`` pass, the probability that at least one of
``k`` samples drawn without replacement passes is::

    pass@k = 1 - C(n - c, k) / C(n, k)

computed in the numerically stable product form (no huge binomials)::

    pass@k = 1                                   if n - c < k
           = 1 - prod_{i = n-c+1}^{n} (1 - k / i)  otherwise

The benchmark score is the mean over problems. :func:`pass_at_k_naive` is the direct
``math.comb`` formula (exact rational arithmetic), for testing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction

import numpy as np
import pandas as pd

from ..errors import InputError


def _check(n: int, c: int, k: int) -> None:
    if n < 1 or k < 1:
        raise InputError(f"pass@k needs n >= 1 and k >= 1 (n={n}, k={k})")
    if not 0 <= c <= n:
        raise InputError(f"pass@k needs 0 <= c <= n (c={c}, n={n})")
    if k > n:
        raise InputError(f"pass@{k} needs at least {k} samples per problem, got n={n}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem (``n`` samples, ``c`` correct)."""
    n, c, k = int(n), int(c), int(k)
    _check(n, c, k)
    if n - c < k:
        return 1.0
    i = np.arange(n - c + 1, n + 1, dtype=np.float64)
    return float(1.0 - np.prod(1.0 - k / i))


def pass_at_k_naive(n: int, c: int, k: int) -> float:
    """``1 - C(n-c, k) / C(n, k)`` with exact integers (slow for big n; for tests)."""
    n, c, k = int(n), int(c), int(k)
    _check(n, c, k)
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


def pass_at_k_array(n: Sequence[int] | np.ndarray, c: Sequence[int] | np.ndarray, k: int) -> np.ndarray:
    """Per-problem pass@k for arrays of ``n`` and ``c``."""
    n_arr = np.asarray(n, dtype=np.int64)
    c_arr = np.asarray(c, dtype=np.int64)
    if n_arr.shape != c_arr.shape:
        raise InputError("n and c must have the same shape")
    vals = [pass_at_k(int(a), int(b), k) for a, b in zip(n_arr.ravel(), c_arr.ravel(), strict=True)]
    return np.array(vals).reshape(n_arr.shape)


def default_ks(n: int) -> list[int]:
    """Every k <= n."""
    return list(range(1, int(n) + 1))


def plot_ks(ks: Sequence[int]) -> list[int]:
    """At most ~10 bars: every k when there are few, else 1, 2, 5, 10, 20, 50, ... and the largest."""
    ks = sorted(set(int(k) for k in ks))
    if len(ks) <= 10:
        return ks
    marks = {m * 10**e for e in range(6) for m in (1, 2, 5)}
    return sorted({k for k in ks if k in marks} | {ks[-1]})


def estimate(counts: pd.DataFrame, ks: Iterable[int] | None = None) -> pd.DataFrame:
    """pass@k over problems from a per-problem table with columns ``n`` and ``c``.

    Returns one row per k: ``k``, ``pass_at_k`` (mean over problems), ``stderr`` (standard
    error of that mean over problems), ``n_problems``. A k larger than some problem's n is
    skipped (it is undefined for that problem) - the largest usable k is min(n).
    """
    if counts.empty:
        raise InputError("no problems to estimate pass@k from")
    n = counts["n"].to_numpy(dtype=np.int64)
    c = counts["c"].to_numpy(dtype=np.int64)
    n_min = int(n.min())
    ks = sorted(set(ks)) if ks is not None else default_ks(n_min)
    rows = []
    for k in ks:
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        if k > n_min:
            continue
        vals = pass_at_k_array(n, c, k)
        se = float(vals.std(ddof=1) / math.sqrt(len(vals))) if len(vals) > 1 else float("nan")
        rows.append({"k": int(k), "pass_at_k": float(vals.mean()), "stderr": se, "n_problems": int(len(vals))})
    return pd.DataFrame(rows, columns=["k", "pass_at_k", "stderr", "n_problems"])
