"""tokprobe.core.TokenHistogram and Summary: streaming accumulation, merging, validation."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tokprobe import core
from tokprobe.errors import InputError

# ------------------------------------------------------------------------------------------------
# TokenHistogram


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.int16, np.uint32])
def test_histogram_equals_bincount_across_calls(dtype) -> None:
    rng = np.random.default_rng(0)
    h = core.TokenHistogram(200)
    chunks = [rng.integers(0, 200, size=n).astype(dtype) for n in (0, 1, 17, 5000)]
    for c in chunks:
        h.add(c)
    all_ids = np.concatenate(chunks).astype(np.int64)
    np.testing.assert_array_equal(h.counts, np.bincount(all_ids, minlength=200))
    assert h.total == all_ids.size and h.counts.dtype == np.int64


def test_histogram_class_counts() -> None:
    rng = np.random.default_rng(1)
    cmap = rng.integers(-1, 4, size=50)
    h = core.TokenHistogram(50, class_map=cmap, n_classes=4)
    ids = rng.integers(0, 50, size=3000)
    h.add(ids)
    want = np.bincount(cmap[ids][cmap[ids] >= 0], minlength=4)
    np.testing.assert_array_equal(h.class_counts, want)
    # n_classes defaults to max + 1
    assert core.TokenHistogram(50, class_map=cmap).n_classes == int(cmap.max()) + 1
    assert core.TokenHistogram(50).class_counts.shape == (0,)


def test_histogram_accepts_any_shape_and_lists() -> None:
    h = core.TokenHistogram(10)
    h.add([[1, 2], [2, 3]])
    h.add(np.array(9))
    np.testing.assert_array_equal(h.counts, [0, 1, 2, 1, 0, 0, 0, 0, 0, 1])


def test_histogram_merge_and_reset() -> None:
    cmap = np.arange(30) % 3
    a = core.TokenHistogram(30, class_map=cmap, n_classes=3)
    b = core.TokenHistogram(30, class_map=cmap, n_classes=3)
    a.add([1, 2, 3])
    b.add([3, 4])
    assert a.merge(b) is a
    np.testing.assert_array_equal(a.counts[:6], [0, 1, 1, 2, 1, 0])
    np.testing.assert_array_equal(a.class_counts, [2, 2, 1])
    assert a.total == 5 and b.total == 2
    with pytest.raises(InputError, match="cannot be merged"):
        a.merge(core.TokenHistogram(30))
    with pytest.raises(InputError, match="cannot be merged"):
        a.merge(core.TokenHistogram(31, class_map=np.zeros(31, np.int64), n_classes=3))
    a.reset()
    assert a.total == 0 and not a.counts.any() and not a.class_counts.any()


def test_histogram_rejects_bad_ids_without_counting() -> None:
    h = core.TokenHistogram(10)
    h.add([1, 1])
    for bad, match in (([1, 10], "outside"), ([-1], "outside"), ([0.5], "integers"), ([True], "integers")):
        with pytest.raises(InputError, match=match):
            h.add(bad)
    assert h.total == 2 and h.counts[1] == 2 and h.counts.sum() == 2
    with pytest.raises(InputError):
        core.TokenHistogram(0)
    with pytest.raises(InputError, match="class_map"):
        core.TokenHistogram(3, class_map=[0, 5, 1], n_classes=2)
    with pytest.raises(InputError, match="entries"):
        core.TokenHistogram(3, class_map=[0, 1])


def test_histogram_counts_are_copies_and_thread_safe() -> None:
    h = core.TokenHistogram(100)
    h.counts[:] = 7
    assert h.total == 0 and not h.counts.any()
    ids = np.arange(100)

    def work() -> None:
        for _ in range(50):
            h.add(ids)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert h.total == 4 * 50 * 100 and np.all(h.counts == 200)


# ------------------------------------------------------------------------------------------------
# Summary


def test_summary_matches_numpy() -> None:
    rng = np.random.default_rng(2)
    s = core.Summary()
    chunks = [rng.standard_normal(n) * 3 + 1e6 for n in (1, 0, 999, 5000)]
    for c in chunks:
        s.add(c)
    v = np.concatenate(chunks)
    assert s.count == v.size and s.nan_count == 0
    assert s.mean == pytest.approx(v.mean(), rel=1e-14)
    assert s.std == pytest.approx(v.std(ddof=1), rel=1e-9)
    assert s.sem == pytest.approx(v.std(ddof=1) / np.sqrt(v.size), rel=1e-9)
    assert s.min == v.min() and s.max == v.max()
    np.testing.assert_array_equal(s.values, v)
    qs = [0, 1, 12.5, 50, 99.9, 100]
    np.testing.assert_array_equal(s.percentile(qs), np.percentile(v, qs))
    assert s.percentile(37.0) == np.percentile(v, 37.0)


def test_summary_skips_nan_and_reports_it() -> None:
    s = core.Summary()
    s.add([1.0, np.nan, 3.0])
    s.add(np.array([np.nan]))
    assert s.count == 2 and s.nan_count == 2 and s.mean == 2.0
    np.testing.assert_array_equal(s.values, [1.0, 3.0])


def test_summary_with_infinite_values() -> None:
    s = core.Summary()
    s.add([1.0, np.inf, 2.0])
    assert s.mean == np.inf and np.isnan(s.std) and s.max == np.inf
    with np.errstate(invalid="ignore"):  # numpy interpolates inf - inf = NaN at the top
        np.testing.assert_array_equal(s.percentile([0, 50, 100]), np.percentile([1.0, np.inf, 2.0], [0, 50, 100]))


def test_empty_summary_is_nan() -> None:
    s = core.Summary()
    assert s.count == 0
    assert np.isnan(s.mean) and np.isnan(s.std) and np.isnan(s.min) and np.isnan(s.max)
    assert np.isnan(s.percentile(50)) and np.isnan(s.percentile([5, 95])).all()
    d = s.to_dict()
    assert d["count"] == 0 and np.isnan(d["p50"])
    one = core.Summary()
    one.add([4.0])
    assert one.mean == 4.0 and np.isnan(one.std) and np.isnan(one.sem)


def test_summary_merge_equals_concatenation() -> None:
    rng = np.random.default_rng(3)
    a, b, whole = core.Summary(), core.Summary(), core.Summary()
    x, y = rng.exponential(size=1000), rng.exponential(size=37) + 5
    a.add(x)
    b.add(y)
    whole.add(np.concatenate([x, y]))
    assert a.merge(b) is a
    assert a.count == whole.count
    assert a.mean == pytest.approx(whole.mean, rel=1e-13)
    assert a.std == pytest.approx(whole.std, rel=1e-12)
    np.testing.assert_array_equal(a.percentile([5, 50, 95]), whole.percentile([5, 50, 95]))
    assert b.count == 37  # the merged-in summary is unchanged
    a.merge(core.Summary())
    assert a.count == whole.count


def test_summary_to_dict_and_validation() -> None:
    s = core.Summary()
    s.add(np.arange(101, dtype=np.float64))
    d = s.to_dict()
    assert d["count"] == 101 and d["p50"] == 50.0 and d["p5"] == 5.0 and d["p95"] == 95.0
    assert set(d) == {"count", "nan_count", "mean", "std", "sem", "min", "max", "p5", "p25", "p50", "p75", "p95"}
    with pytest.raises(InputError, match="percentiles"):
        s.percentile(101)
    with pytest.raises(InputError, match="percentiles"):
        s.percentile([-1, 50])
    with pytest.raises(InputError, match="numbers"):
        s.add(["a", "b"])
    with pytest.raises(InputError):
        s.merge(object())  # type: ignore[arg-type]
