"""tokprobe.bootstrap: the file bootstrap against clustered data with a known variance of the mean."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tokprobe.bootstrap import FileBootstrap, interval_columns


def _clustered(rng: np.random.Generator, n_files: int, per_file: int, sd_file: float, sd_token: float,
               shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """File effects + token noise, equal file sizes: var(mean) = (sd_file² + sd_token² / per_file) / n_files."""
    files = np.repeat(np.arange(n_files), per_file)
    y = shift + rng.normal(0.0, sd_file, n_files)[files] + rng.normal(0.0, sd_token, files.size)
    return files, y


def _analytic_se(n_files: int, per_file: int, sd_file: float, sd_token: float) -> float:
    return math.sqrt((sd_file**2 + sd_token**2 / per_file) / n_files)


def test_standard_error_matches_the_clustered_variance():
    rng = np.random.default_rng(1)
    files, y = _clustered(rng, 400, 20, 1.0, 2.0)
    iv = FileBootstrap(files, seed=3).mean(y)
    want = _analytic_se(400, 20, 1.0, 2.0)
    assert abs(iv.se / want - 1.0) < 0.15
    # a per-token standard error would be far too small here: the bootstrap sees the clusters
    assert iv.se > 2.0 * np.std(y) / math.sqrt(y.size)
    assert iv.lo < iv.value < iv.hi
    assert iv.n_tokens == 8000 and iv.n_files == 400 and not iv.too_few


def test_coverage_of_the_95_percent_interval():
    rng = np.random.default_rng(7)
    hits, ses = 0, []
    n_sets, n_files, per_file = 200, 30, 15
    for i in range(n_sets):
        files, y = _clustered(rng, n_files, per_file, 0.5, 1.0)
        iv = FileBootstrap(files, seed=i, n_boot=1000).mean(y)
        hits += iv.lo <= 0.0 <= iv.hi
        ses.append(iv.se)
    assert 0.90 <= hits / n_sets <= 0.98
    assert abs(np.mean(ses) / _analytic_se(n_files, per_file, 0.5, 1.0) - 1.0) < 0.15


def test_paired_difference_excludes_zero_for_a_real_shift_and_covers_it_for_none():
    rng = np.random.default_rng(11)
    files, base = _clustered(rng, 40, 25, 1.0, 1.0)
    noise = rng.normal(0.0, 0.05, base.size)
    bs = FileBootstrap(files, seed=0)
    shifted = bs.paired(base + 0.05 + noise, base)
    assert shifted.excludes(0.0) and shifted.lo > 0
    same = bs.paired(base + noise, base)
    assert not same.excludes(0.0)
    # unpaired means of the two sides overlap although the paired difference is clear
    a, b = bs.mean(base + 0.05 + noise), bs.mean(base)
    assert a.lo < b.hi
    assert shifted.value == pytest.approx(a.value - b.value)


def test_tiny_input_by_hand():
    # files 0, 0, 1 with values 1, 3, 5: a replicate draws two files, so its mean is
    # 2 (file 0 twice, p 1/4), 3 (both, p 1/2) or 5 (file 1 twice, p 1/4)
    bs = FileBootstrap(np.array([0, 0, 1]), n_boot=2000, seed=5)
    iv = bs.mean(np.array([1.0, 3.0, 5.0]))
    assert iv.value == 3.0 and iv.lo == 2.0 and iv.hi == 5.0
    assert iv.n_tokens == 3 and iv.n_files == 2 and iv.n_invalid == 0 and iv.too_few
    assert set(bs.counts.sum(axis=1)) == {2.0}
    share_both = np.mean(bs.counts[:, 0] == 1)
    assert share_both == pytest.approx(0.5, abs=0.05)
    # paired: a - b = 1, 2, 4 -> replicates 1.5, 7/3 or 4
    d = bs.paired(np.array([1.0, 3.0, 5.0]), np.array([0.0, 1.0, 1.0]))
    assert d.value == pytest.approx(7 / 3) and d.lo == 1.5 and d.hi == 4.0
    # proportion: same top-1 on 2 of 3 tokens, [1, 0] in file 0 and [1] in file 1
    p = bs.proportion(np.array([True, False, True]))
    assert p.value == pytest.approx(2 / 3) and p.lo == 0.5 and p.hi == 1.0
    # ratio of sums: bits over bytes, file 0 has 4 bits on 2 bytes, file 1 has 5 bits on 5 bytes
    r = bs.ratio(np.array([1.0, 3.0, 5.0]), np.array([1.0, 1.0, 5.0]))
    assert r.value == pytest.approx(9 / 7) and r.lo == 1.0 and r.hi == 2.0
    assert interval_columns("kl", iv) == {"kl_lo": 2.0, "kl_hi": 5.0}


def test_function_of_means():
    bs = FileBootstrap(np.array([0, 0, 1]), n_boot=500, seed=1)
    iv = bs.of_means(np.exp, np.array([1.0, 3.0, 5.0]))
    assert iv.value == pytest.approx(math.exp(3.0))
    assert iv.lo == pytest.approx(math.exp(2.0)) and iv.hi == pytest.approx(math.exp(5.0))
    ratio = bs.of_means(lambda a, b: a / b, np.array([1.0, 3.0, 5.0]), np.array([1.0, 1.0, 5.0]))
    assert ratio.value == pytest.approx(9 / 7)


def test_too_few_tokens_or_files():
    rng = np.random.default_rng(0)
    few_files = FileBootstrap(np.repeat([0, 1], 150)).mean(rng.normal(size=300))
    assert few_files.too_few and few_files.n_files == 2
    few_tokens = FileBootstrap(np.repeat(np.arange(10), 10)).mean(rng.normal(size=100))
    assert few_tokens.too_few and few_tokens.n_tokens == 100
    enough = FileBootstrap(np.repeat(np.arange(3), 70)).mean(rng.normal(size=210))
    assert not enough.too_few
    custom = FileBootstrap(np.repeat(np.arange(3), 70), min_tokens=300).mean(rng.normal(size=210))
    assert custom.too_few
    one = FileBootstrap(np.zeros(500, dtype=int)).mean(rng.normal(size=500))
    assert one.too_few and math.isnan(one.lo) and math.isnan(one.hi) and math.isfinite(one.value)


def test_non_finite_values_are_excluded_and_counted():
    rng = np.random.default_rng(2)
    files, y = _clustered(rng, 20, 30, 0.5, 1.0)
    bad = y.copy()
    bad[[3, 50, 51]] = [np.nan, np.inf, -np.inf]
    keep = np.ones(y.size, dtype=bool)
    keep[[3, 50, 51]] = False
    got = FileBootstrap(files, seed=4).mean(bad)
    want = FileBootstrap(files, seed=4).mean(y, valid=keep)
    assert got.n_invalid == 3 and want.n_invalid == 0
    assert got.value == pytest.approx(y[keep].mean())
    assert (got.lo, got.hi, got.n_tokens) == (want.lo, want.hi, want.n_tokens) and got.n_tokens == y.size - 3
    assert all(math.isfinite(v) for v in (got.value, got.lo, got.hi, got.se))
    paired = FileBootstrap(files, seed=4).paired(bad, y)
    assert paired.n_invalid == 3 and math.isfinite(paired.value)


def test_same_seed_same_interval_and_seed_matters():
    rng = np.random.default_rng(3)
    files, y = _clustered(rng, 25, 10, 1.0, 1.0)
    a = FileBootstrap(files, seed=9).mean(y)
    b = FileBootstrap(files, seed=9).mean(y)
    c = FileBootstrap(files, seed=10).mean(y)
    assert a == b and (a.lo, a.hi) != (c.lo, c.hi)
    assert FileBootstrap(files, seed=9, n_boot=50).settings()["n_boot"] == 50


def test_bad_arguments():
    with pytest.raises(ValueError):
        FileBootstrap(np.zeros(3), n_boot=0)
    with pytest.raises(ValueError):
        FileBootstrap(np.zeros(3)).mean(np.zeros(4))
    empty = FileBootstrap(np.zeros(0, dtype=int)).mean(np.zeros(0))
    assert empty.too_few and math.isnan(empty.value) and empty.n_tokens == 0
