"""Cluster (file) bootstrap for token means: intervals that respect the correlation of a file's tokens.

Tokens of one file are correlated, so a per-token standard error understates the uncertainty of a
mean over tokens. :class:`FileBootstrap` resamples whole files with replacement: replicate ``b``
draws ``n_files`` files (a multinomial count per file), and its statistic is the token-weighted
mean over the drawn files, the ratio of sums ``sum_f c_bf S_f / sum_f c_bf N_f`` (``S_f``, ``N_f``:
the file's sum and token count). The 95 % interval is the 2.5 and 97.5 percentiles of the ``B``
replicates (percentile interval). Everything is one ``[B, n_files]`` count matrix times the
per-file sums: no loop over replicates.

- :meth:`FileBootstrap.mean`: a mean over tokens (a proportion is the mean of 0/1 values).
- :meth:`FileBootstrap.ratio`: a ratio of sums with another denominator (bits per byte).
- :meth:`FileBootstrap.paired`: ``mean(a) - mean(b)`` of two variants on the same tokens; both
  sides see the same resampled files, so the interval is that of the paired difference.
- :meth:`FileBootstrap.of_means`: a function of several means (e.g. ``exp`` of a mean NLL
  difference), evaluated per replicate.

Non-finite values are excluded (their number is reported as ``n_invalid``), and a group with
fewer than ``min_tokens`` tokens or ``min_files`` files is flagged ``too_few``. With fewer than two
files there is nothing to resample and the interval is NaN. The same seed and ``B`` give the same
intervals; both are recorded by the callers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DEFAULT_B = 1000
DEFAULT_SEED = 0
MIN_TOKENS = 200
MIN_FILES = 3
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A statistic, its bootstrap interval and what it rests on."""

    value: float  # the statistic on all valid tokens
    lo: float
    hi: float
    se: float  # standard deviation of the replicates
    n_tokens: int  # valid tokens
    n_files: int  # files with at least one valid token
    n_invalid: int  # tokens left out because a value was not finite
    too_few: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def excludes(self, x: float = 0.0) -> bool:
        """Whether ``x`` lies outside the interval (False when the interval is NaN)."""
        return bool(self.lo > x or self.hi < x)


def _finite(*arrays: np.ndarray) -> np.ndarray:
    ok = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        ok &= np.isfinite(np.asarray(a, dtype=np.float64))
    return ok


class FileBootstrap:
    """Resamples the files of a set of tokens; ``files[i]`` is the file (cluster) of token ``i``.

    ``valid`` (optional, bool per token) marks the tokens that count; each statistic further
    leaves out its own non-finite values. The count matrix is drawn once, so every statistic of
    one bootstrap (and both sides of :meth:`paired`) uses the same resampled files.
    """

    def __init__(self, files: np.ndarray, *, n_boot: int = DEFAULT_B, seed: int = DEFAULT_SEED,
                 min_tokens: int = MIN_TOKENS, min_files: int = MIN_FILES, level: float = LEVEL) -> None:
        if n_boot < 1:
            raise ValueError(f"n_boot must be positive, got {n_boot}")
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {level}")
        files = np.asarray(files).reshape(-1)
        self.n_boot, self.seed, self.level = int(n_boot), int(seed), float(level)
        self.min_tokens, self.min_files = int(min_tokens), int(min_files)
        uniq, self.codes = np.unique(files, return_inverse=True)
        self.n_clusters = len(uniq)
        self.n = len(files)
        rng = np.random.default_rng(self.seed)
        if self.n_clusters > 0:
            p = np.full(self.n_clusters, 1.0 / self.n_clusters)
            self.counts = rng.multinomial(self.n_clusters, p, size=self.n_boot).astype(np.float64)
        else:
            self.counts = np.zeros((self.n_boot, 0))

    def settings(self) -> dict[str, Any]:
        """What to record in a result's provenance."""
        return {"unit": "file", "n_boot": self.n_boot, "seed": self.seed, "level": self.level,
                "interval": "percentile", "min_tokens": self.min_tokens, "min_files": self.min_files}

    # -- building blocks ------------------------------------------------------------------------
    def _sums(self, x: np.ndarray, ok: np.ndarray) -> np.ndarray:
        return np.bincount(self.codes[ok], weights=x[ok], minlength=self.n_clusters)

    def _mask(self, arrays: Sequence[np.ndarray], valid: np.ndarray | None) -> tuple[np.ndarray, int]:
        for a in arrays:
            if len(a) != self.n:
                raise ValueError(f"expected {self.n} values per array, got {len(a)}")
        base = np.ones(self.n, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
        ok = base & _finite(*arrays)
        return ok, int(np.count_nonzero(base & ~ok))

    def _interval(self, value: float, reps: np.ndarray, ok: np.ndarray, n_invalid: int) -> Interval:
        n_tok = int(np.count_nonzero(ok))
        n_files = int(np.count_nonzero(np.bincount(self.codes[ok], minlength=self.n_clusters)))
        reps = reps[np.isfinite(reps)]
        if n_files >= 2 and reps.size:
            a = (1.0 - self.level) / 2.0
            lo, hi = (float(v) for v in np.percentile(reps, [100 * a, 100 * (1 - a)]))
            se = float(np.std(reps, ddof=1)) if reps.size > 1 else math.nan
        else:
            lo = hi = se = math.nan
        too_few = n_tok < self.min_tokens or n_files < self.min_files
        return Interval(value, lo, hi, se, n_tok, n_files, n_invalid, too_few)

    def _replicates(self, num: np.ndarray, den: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            out: np.ndarray = (self.counts @ num) / (self.counts @ den)
        return out

    # -- statistics -----------------------------------------------------------------------------
    def ratio(self, num: np.ndarray, den: np.ndarray, valid: np.ndarray | None = None) -> Interval:
        """``sum(num) / sum(den)`` over the valid tokens, resampled by file."""
        num = np.asarray(num, dtype=np.float64).reshape(-1)
        den = np.asarray(den, dtype=np.float64).reshape(-1)
        ok, n_invalid = self._mask([num, den], valid)
        return self._ratio(num, den, ok, n_invalid)

    def _ratio(self, num: np.ndarray, den: np.ndarray, ok: np.ndarray, n_invalid: int) -> Interval:
        s_num, s_den = self._sums(num, ok), self._sums(den, ok)
        total = float(s_den.sum())
        value = float(s_num.sum()) / total if total != 0 else math.nan
        return self._interval(value, self._replicates(s_num, s_den), ok, n_invalid)

    def mean(self, x: np.ndarray, valid: np.ndarray | None = None) -> Interval:
        """The token mean of ``x`` (a proportion when ``x`` is 0/1 or bool)."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        return self.ratio(x, np.ones_like(x), valid)

    def proportion(self, flags: np.ndarray, valid: np.ndarray | None = None) -> Interval:
        """The fraction of tokens where ``flags`` holds (e.g. the same top-1)."""
        return self.mean(np.asarray(flags, dtype=bool).astype(np.float64), valid)

    def paired(self, a: np.ndarray, b: np.ndarray, valid: np.ndarray | None = None) -> Interval:
        """``mean(a) - mean(b)`` over the tokens where both are finite, both sides on the same resampled files."""
        a = np.asarray(a, dtype=np.float64).reshape(-1)
        b = np.asarray(b, dtype=np.float64).reshape(-1)
        ok, n_invalid = self._mask([a, b], valid)
        d = np.where(ok, a - b, 0.0)
        return self._ratio(d, np.ones_like(d), ok, n_invalid)

    def of_means(self, fn: Callable[..., np.ndarray], *xs: np.ndarray, valid: np.ndarray | None = None) -> Interval:
        """``fn(mean(x1), mean(x2), ...)`` per replicate (``fn`` takes and returns numpy arrays)."""
        arrays = [np.asarray(x, dtype=np.float64).reshape(-1) for x in xs]
        ok, n_invalid = self._mask(arrays, valid)
        cnt = self._sums(np.ones(self.n), ok)
        den = self.counts @ cnt
        with np.errstate(invalid="ignore", divide="ignore"):
            reps_means = [(self.counts @ self._sums(x, ok)) / den for x in arrays]
            point = [np.array([self._sums(x, ok).sum() / cnt.sum()]) for x in arrays]
            value = float(np.asarray(fn(*point)).reshape(-1)[0])
            reps = np.asarray(fn(*reps_means), dtype=np.float64)
        return self._interval(value, reps, ok, n_invalid)


def interval_columns(name: str, iv: Interval) -> dict[str, float]:
    """``{name_lo, name_hi}`` of an interval, for a table row."""
    return {f"{name}_lo": iv.lo, f"{name}_hi": iv.hi}
