"""Property tests of tokprobe.core (hypothesis): the identities every result must satisfy."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tokprobe import core

LN2 = float(np.log(2.0))
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

finite_logit = st.floats(min_value=-80.0, max_value=80.0, allow_nan=False, width=32)
logit_or_masked = st.one_of(finite_logit, finite_logit, finite_logit, st.just(float("-inf")))


@st.composite
def logit_pairs(draw, masked: bool = False):
    rows = draw(st.integers(1, 4))
    vocab = draw(st.integers(1, 300))
    elem = logit_or_masked if masked else finite_logit
    x = draw(arrays(np.float32, (rows, vocab), elements=elem))
    y = draw(arrays(np.float32, (rows, vocab), elements=elem))
    x[:, 0] = np.maximum(x[:, 0], -80.0)  # at least one finite token per row
    y[:, 0] = np.maximum(y[:, 0], -80.0)
    return x, y


@SETTINGS
@given(logit_pairs(masked=True))
def test_kl_nonnegative_js_bounded_and_symmetric(pair) -> None:
    x, y = pair
    d = core.divergence(x, y)
    e = core.divergence(y, x)
    assert np.all(d.kl >= 0) and np.all(d.kl_reverse >= 0)
    assert np.all((d.js >= 0) & (d.js <= LN2))
    # swapping P and Q swaps the KLs and leaves JS unchanged, bit for bit
    np.testing.assert_array_equal(d.kl, e.kl_reverse)
    np.testing.assert_array_equal(d.kl_reverse, e.kl)
    np.testing.assert_array_equal(d.js, e.js)
    np.testing.assert_array_equal(d.top10_overlap, e.top10_overlap)


@SETTINGS
@given(logit_pairs(masked=True))
def test_self_divergence_is_exactly_zero(pair) -> None:
    x, _ = pair
    d = core.divergence(x, x.copy())
    assert np.all(d.kl == 0.0) and np.all(d.kl_reverse == 0.0) and np.all(d.js == 0.0)
    assert np.all(d.top5_overlap == 1.0) and np.all(d.top10_overlap == 1.0)


@SETTINGS
@given(logit_pairs(masked=True))
def test_pinsker_and_js_below_kl(pair) -> None:
    """TV^2 <= KL/2 (Pinsker) and JS <= (KL(P||Q) + KL(Q||P)) / 4 (convexity of KL)."""
    x, y = pair
    d = core.divergence(x, y)
    p = np.exp(x - core.row_stats(x).logsumexp[:, None])
    q = np.exp(y - core.row_stats(y).logsumexp[:, None])
    tv = 0.5 * np.abs(p - q).sum(axis=1)
    finite = np.isfinite(d.kl)
    assert np.all(tv[finite] ** 2 <= d.kl[finite] / 2 * (1 + 1e-5) + 1e-9)
    both = d.kl + d.kl_reverse
    assert np.all(d.js <= both / 4 * (1 + 1e-5) + 1e-9)


@SETTINGS
@given(logit_pairs(masked=True), st.integers(1, 5))
def test_class_masses_sum_to_one(pair, n_classes) -> None:
    x, _ = pair
    rng = np.random.default_rng(x.shape[1])
    cmap = rng.integers(0, n_classes, size=x.shape[1])
    m = core.class_mass(x, cmap, n_classes)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(m >= 0)


@SETTINGS
@given(logit_pairs(masked=True))
def test_entropy_bounds_and_lse(pair) -> None:
    x, _ = pair
    rs = core.row_stats(x)
    n_live = np.isfinite(x).sum(axis=1)
    assert np.all(rs.entropy >= 0) and np.all(rs.entropy <= np.log(n_live) * (1 + 1e-6) + 1e-9)
    assert np.all(rs.max_logprob <= 0) and np.all(rs.logsumexp >= x.max(axis=1))


@SETTINGS
@given(st.lists(arrays(np.float64, st.integers(0, 40), elements=st.floats(-1e6, 1e6)), min_size=1, max_size=5),
       st.lists(st.floats(0, 100), min_size=1, max_size=6))  # fmt: skip
def test_summary_percentiles_and_merge(chunks, qs) -> None:
    whole = core.Summary()
    parts = [core.Summary() for _ in chunks]
    for c, s in zip(chunks, parts, strict=True):
        whole.add(c)
        s.add(c)
    merged = core.Summary()
    for s in parts:
        merged.merge(s)
    v = np.concatenate(chunks)
    assert merged.count == whole.count == v.size
    if v.size:
        np.testing.assert_array_equal(whole.percentile(qs), np.percentile(v, qs))
        np.testing.assert_array_equal(merged.percentile(qs), np.percentile(v, qs))
        scale = max(1.0, float(np.abs(v).max()))
        assert abs(merged.mean - v.mean()) <= 1e-12 * scale
        if v.size > 1:
            assert abs(merged.std - v.std(ddof=1)) <= 1e-9 * scale


@SETTINGS
@given(st.integers(1, 500), st.lists(arrays(np.int64, st.integers(0, 200), elements=st.integers(0, 499)), max_size=4))
def test_histogram_equals_bincount(n_vocab, chunks) -> None:
    h = core.TokenHistogram(n_vocab)
    kept = []
    for c in chunks:
        c = c % n_vocab
        h.add(c)
        kept.append(c)
    ids = np.concatenate(kept) if kept else np.zeros(0, np.int64)
    np.testing.assert_array_equal(h.counts, np.bincount(ids, minlength=n_vocab))
    assert h.total == ids.size
