"""tokprobe.core against a float64 numpy reference, edge cases, and argument checking.

The reference (``ref_*`` below) evaluates every quantity in float64 with formulas that stay accurate
when P ~ Q (KL as sum p*(e^s - 1 - s), JS through its per-token kernel in |s|), so tolerances can
be tight: the kernels work per token in float32 and sum in float64.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading

import numpy as np
import pytest

from tokprobe import _core, core
from tokprobe.errors import InputError

LN2 = float(np.log(2.0))

# ------------------------------------------------------------------------------------------------
# float64 reference


def ref_logprobs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log-probs [R, V], lse [R], valid [R]) in float64; invalid rows are NaN."""
    x = np.asarray(x, dtype=np.float64)
    bad = np.isnan(x).any(axis=1) | np.isposinf(x).any(axis=1) | np.isneginf(x).all(axis=1)
    xs = np.where(bad[:, None], 0.0, x)
    m = xs.max(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        lse = m[:, 0] + np.log(np.exp(xs - m).sum(axis=1))
    lse[bad] = np.nan
    lp = x - lse[:, None]
    lp[bad] = np.nan
    return lp, lse, ~bad


def ref_row_stats(x: np.ndarray, targets: np.ndarray | None = None) -> dict[str, np.ndarray]:
    lp, lse, ok = ref_logprobs(x)
    p = np.exp(lp)
    with np.errstate(invalid="ignore"):
        ent = -np.where(p > 0, p * lp, 0.0).sum(axis=1)
    ent[~ok] = np.nan
    xs = np.where(ok[:, None], np.asarray(x, dtype=np.float64), 0.0)
    am = np.where(ok, np.argmax(xs, axis=1), -1).astype(np.int32)
    mlp = np.where(ok, xs.max(axis=1) - lse, np.nan)
    tlp = np.full(len(x), np.nan) if targets is None else lp[np.arange(len(x)), targets]
    return {"logsumexp": lse, "entropy": ent, "argmax": am, "max_logprob": mlp, "target_logprob": tlp}


def _phi(s: np.ndarray) -> np.ndarray:
    """e^s - 1 - s, accurate near 0."""
    small = np.abs(s) < 1e-3
    with np.errstate(over="ignore", invalid="ignore"):
        big = np.expm1(s) - s
    ser = s * s * (0.5 + s * (1 / 6 + s * (1 / 24 + s / 120)))
    return np.where(small, ser, big)


def _js_kernel(t: np.ndarray) -> np.ndarray:
    """J(t) = (1+u)(ln2 - log1p u) - t u with u = e^-t: 2 * JS term / max(p, q)."""
    u = np.exp(-t)
    big = (1 + u) * (LN2 - np.log1p(u)) - t * u
    ser = t * t * (1 / 4 - t / 8 + t * t / 32 - t**3 / 192 + t**4 / 1152 - t**5 / 5760)
    return np.where(t < 1e-2, ser, big)


def ref_divergence(x: np.ndarray, y: np.ndarray, targets: np.ndarray | None = None) -> dict[str, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lp, lse_p, okp = ref_logprobs(x)
    lq, lse_q, okq = ref_logprobs(y)
    ok = okp & okq
    p, q = np.exp(lp), np.exp(lq)
    with np.errstate(invalid="ignore", over="ignore"):
        s = (y - x) - (lse_q - lse_p)[:, None]  # log q - log p, accurate when P ~ Q
        mp, mq = np.isneginf(x), np.isneginf(y)
        live = ~(mp & mq)
        s_f = np.where(live & ~mp & ~mq, s, 0.0)
        # KL(P||Q) = sum p (e^s - 1 - s): for large s use q - p - p s; masked P contributes q
        kf = np.where(s_f > 1, q - p - p * s_f, p * _phi(s_f))
        kf = np.where(mp & ~mq, q, kf)
        kr = np.where(s_f < -1, p - q + q * s_f, q * _phi(-s_f))
        kr = np.where(mq & ~mp, p, kr)
        t = np.abs(s_f)
        hi = np.maximum(p, q)
        js_t = np.where(mp ^ mq, hi * LN2, hi * _js_kernel(t))
        js_t = np.where(live, js_t, 0.0)
    kl = np.where(live, kf, 0.0).sum(axis=1)
    klr = np.where(live, kr, 0.0).sum(axis=1)
    kl[((~mp) & mq).any(axis=1)] = np.inf
    klr[((~mq) & mp).any(axis=1)] = np.inf
    js = 0.5 * js_t.sum(axis=1)
    kl[~ok] = klr[~ok] = js[~ok] = np.nan
    sp, sq = ref_row_stats(x, targets), ref_row_stats(y, targets)
    k5 = np.array([_overlap(a, b, 5) if o else np.nan for a, b, o in zip(x, y, ok, strict=True)])
    k10 = np.array([_overlap(a, b, 10) if o else np.nan for a, b, o in zip(x, y, ok, strict=True)])
    return {
        "kl": kl, "kl_reverse": klr, "js": js,
        "entropy_ref": sp["entropy"], "entropy_var": sq["entropy"],
        "target_logprob_ref": sp["target_logprob"], "target_logprob_var": sq["target_logprob"],
        "argmax_ref": sp["argmax"], "argmax_var": sq["argmax"],
        "top5_overlap": k5, "top10_overlap": k10,
    }  # fmt: skip


def ref_topk_ids(row: np.ndarray, k: int) -> np.ndarray:
    """Ids of the k largest values, ties by lower id."""
    row = np.asarray(row, dtype=np.float64)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    kth = np.partition(row, len(row) - k)[len(row) - k]
    cand = np.flatnonzero(row >= kth)  # ascending ids, every tie included
    return cand[np.argsort(-row[cand], kind="stable")][:k]


def _overlap(a: np.ndarray, b: np.ndarray, k: int) -> float:
    k = min(k, len(a))
    return len(set(ref_topk_ids(a, k)) & set(ref_topk_ids(b, k))) / k


def ref_class_mass(x: np.ndarray, class_map: np.ndarray, n: int) -> np.ndarray:
    lp, _, ok = ref_logprobs(x)
    p = np.exp(lp)
    out = np.zeros((len(x), n))
    keep = class_map >= 0
    for r in range(len(x)):
        np.add.at(out[r], class_map[keep], p[r, keep])
    out[~ok] = np.nan
    return out


# ------------------------------------------------------------------------------------------------
# helpers

RTOL = 1e-5  # per-token float32 evaluation; observed errors are ~1e-7 .. 2e-6
ATOL = 1e-12  # sums of terms below float range (e.g. 1e-120) come out as 0


def logits(rng: np.random.Generator, rows: int, vocab: int, scale: float) -> np.ndarray:
    return (rng.standard_normal((rows, vocab)) * scale).astype(np.float32)


def perturb(rng: np.random.Generator, x: np.ndarray, rel: float) -> np.ndarray:
    finite = np.abs(x[np.isfinite(x)])
    scale = float(finite.max()) if finite.size else 1.0
    return (x + rng.standard_normal(x.shape) * rel * scale).astype(np.float32)


def assert_stats_close(got: core.RowStats, want: dict[str, np.ndarray]) -> None:
    np.testing.assert_allclose(got.logsumexp, want["logsumexp"], rtol=1e-9, atol=2e-6)
    np.testing.assert_allclose(got.entropy, want["entropy"], rtol=RTOL, atol=1e-9)
    np.testing.assert_array_equal(got.argmax, want["argmax"])
    np.testing.assert_allclose(got.max_logprob, want["max_logprob"], rtol=1e-9, atol=2e-6)
    np.testing.assert_allclose(got.target_logprob, want["target_logprob"], rtol=1e-9, atol=2e-6)


def assert_div_close(got: core.Divergence, want: dict[str, np.ndarray]) -> None:
    for name in ("kl", "kl_reverse", "js"):
        np.testing.assert_allclose(getattr(got, name), want[name], rtol=RTOL, atol=ATOL, err_msg=name)
    for name in ("entropy_ref", "entropy_var"):
        np.testing.assert_allclose(getattr(got, name), want[name], rtol=RTOL, atol=1e-9, err_msg=name)
    for name in ("target_logprob_ref", "target_logprob_var"):
        np.testing.assert_allclose(getattr(got, name), want[name], rtol=1e-9, atol=2e-6, err_msg=name)
    for name in ("argmax_ref", "argmax_var"):
        np.testing.assert_array_equal(getattr(got, name), want[name], err_msg=name)
    for name in ("top5_overlap", "top10_overlap"):
        np.testing.assert_array_equal(getattr(got, name), want[name], err_msg=name)


@pytest.fixture(params=["base", "avx2", "avx512"])
def simd(request: pytest.FixtureRequest):
    """Run a test at each vector width the CPU supports (the kernels pick the widest by default)."""
    before = _core.simd_level()
    got = _core._set_simd_level(request.param)
    if got != request.param:
        _core._set_simd_level(before)
        pytest.skip(f"CPU lacks {request.param}")
    yield request.param
    _core._set_simd_level(before)


VOCABS = [1, 2, 7, 100, 1000, 32000]
SCALES = [1e-3, 1.0, 30.0, 1e3]

# ------------------------------------------------------------------------------------------------
# against the reference


@pytest.mark.parametrize("vocab", VOCABS)
def test_row_stats_matches_reference(vocab: int, simd: str) -> None:
    rng = np.random.default_rng(vocab)
    for scale in SCALES:
        x = logits(rng, 5, vocab, scale)
        t = rng.integers(0, vocab, size=5)
        assert_stats_close(core.row_stats(x, t), ref_row_stats(x, t))


@pytest.mark.parametrize("vocab", VOCABS)
def test_divergence_matches_reference(vocab: int, simd: str) -> None:
    rng = np.random.default_rng(100 + vocab)
    rows = 4 if vocab <= 1000 else 2
    for scale in SCALES:
        x = logits(rng, rows, vocab, scale)
        t = rng.integers(0, vocab, size=rows)
        for rel in (1e-4, 1e-2, 1.0):
            y = perturb(rng, x, rel)
            assert_div_close(core.divergence(x, y, t), ref_divergence(x, y, t))


def test_largest_vocab_matches_reference() -> None:
    rng = np.random.default_rng(7)
    v = 262_144
    x = logits(rng, 2, v, 4.0)
    x[0, rng.integers(0, v, 5000)] = -np.inf  # masked tokens in both rows of pair 0
    y = perturb(rng, x, 0.02)
    t = np.array([3, v - 1])
    assert_stats_close(core.row_stats(x, t), ref_row_stats(x, t))
    assert_div_close(core.divergence(x, y, t), ref_divergence(x, y, t))


def test_masked_tokens_have_zero_probability(simd: str) -> None:
    rng = np.random.default_rng(3)
    x = logits(rng, 3, 300, 3.0)
    x[:, ::3] = -np.inf
    y = perturb(rng, x, 0.05)
    y[:, ::3] = -np.inf
    assert_stats_close(core.row_stats(x), ref_row_stats(x))
    assert_div_close(core.divergence(x, y), ref_divergence(x, y))
    # entropy equals that of the unmasked tokens alone
    alone = np.ascontiguousarray(np.delete(x, np.s_[::3], axis=1))
    np.testing.assert_allclose(core.row_stats(x).entropy, core.row_stats(alone).entropy, rtol=1e-6)


def test_kl_is_inf_where_only_one_side_is_masked(simd: str) -> None:
    rng = np.random.default_rng(4)
    x = logits(rng, 2, 50, 2.0)
    y = x.copy()
    y[0, 7] = -np.inf  # P > 0, Q = 0 -> KL(P||Q) = inf, KL(Q||P) finite
    x[1, 9] = -np.inf  # Q > 0, P = 0 -> KL(Q||P) = inf
    d = core.divergence(x, y)
    assert d.kl[0] == np.inf and np.isfinite(d.kl_reverse[0])
    assert d.kl_reverse[1] == np.inf and np.isfinite(d.kl[1])
    assert np.all(d.js <= LN2) and np.all(d.js > 0)
    assert_div_close(d, ref_divergence(x, y))
    # a masked token whose probability underflows float32 still makes KL infinite
    x2 = np.zeros((1, 4), np.float32)
    x2[0, 1] = -150.0
    y2 = np.zeros((1, 4), np.float32)
    y2[0, 1] = -np.inf
    assert core.divergence(x2, y2).kl[0] == np.inf


def test_disjoint_supports_give_js_ln2() -> None:
    x = np.full((1, 20), -np.inf, np.float32)
    y = x.copy()
    x[0, :10] = np.arange(10)
    y[0, 10:] = -np.arange(10)
    d = core.divergence(x, y)
    assert d.kl[0] == np.inf and d.kl_reverse[0] == np.inf
    np.testing.assert_allclose(d.js[0], LN2, rtol=1e-7)
    assert d.top5_overlap[0] == 0.0 and d.top10_overlap[0] == 0.0


def test_identical_rows_give_exactly_zero(simd: str) -> None:
    rng = np.random.default_rng(5)
    for vocab in (1, 3, 1000, 40000):
        x = logits(rng, 3, vocab, 5.0)
        x[:, ::5] = -np.inf
        x[:, 0] = 1.0
        d = core.divergence(x, x.copy())
        assert np.all(d.kl == 0.0) and np.all(d.kl_reverse == 0.0) and np.all(d.js == 0.0)
        assert np.all(d.top5_overlap == 1.0) and np.all(d.top10_overlap == 1.0)
        np.testing.assert_array_equal(d.entropy_ref, d.entropy_var)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_posinf_make_the_row_invalid(bad: float, simd: str) -> None:
    rng = np.random.default_rng(6)
    x = logits(rng, 3, 100, 2.0)
    y = perturb(rng, x, 0.1)
    x[1, 17] = bad
    rs = core.row_stats(x, [0, 1, 2])
    assert np.isnan(rs.logsumexp[1]) and np.isnan(rs.entropy[1]) and rs.argmax[1] == -1
    assert np.isnan(rs.max_logprob[1]) and np.isnan(rs.target_logprob[1])
    assert np.all(np.isfinite(rs.logsumexp[[0, 2]]))
    d = core.divergence(x, y, [0, 1, 2])
    for name in ("kl", "kl_reverse", "js", "entropy_ref", "target_logprob_ref", "top5_overlap", "top10_overlap"):
        assert np.isnan(getattr(d, name)[1]), name
    assert d.argmax_ref[1] == -1
    # the valid side of the row is still described
    assert np.isfinite(d.entropy_var[1]) and d.argmax_var[1] >= 0
    ref = ref_divergence(x, y, np.array([0, 1, 2]))
    assert_div_close(d, ref)
    ids, lps = core.topk(x, 3)
    assert np.all(ids[1] == -1) and np.all(np.isnan(lps[1]))
    assert np.all(np.isnan(core.class_mass(x, np.zeros(100, np.int32), 1)[1]))


def test_all_masked_row_is_invalid() -> None:
    x = np.full((2, 10), -np.inf, np.float32)
    x[0, 3] = 0.0
    rs = core.row_stats(x)
    assert rs.logsumexp[0] == 0.0 and rs.entropy[0] == 0.0 and rs.argmax[0] == 3
    assert np.isnan(rs.logsumexp[1]) and np.isnan(rs.entropy[1]) and rs.argmax[1] == -1
    assert np.isnan(core.divergence(x, x).kl[1])


def test_vocab_of_one() -> None:
    x = np.array([[3.0], [-2.0]], np.float32)
    rs = core.row_stats(x, [0, 0])
    np.testing.assert_array_equal(rs.logsumexp, [3.0, -2.0])
    np.testing.assert_array_equal(rs.entropy, [0.0, 0.0])
    np.testing.assert_array_equal(rs.argmax, [0, 0])
    np.testing.assert_array_equal(rs.target_logprob, [0.0, 0.0])
    d = core.divergence(x, x[::-1].copy())
    np.testing.assert_array_equal(d.kl, [0.0, 0.0])
    np.testing.assert_array_equal(d.js, [0.0, 0.0])
    np.testing.assert_array_equal(d.top5_overlap, [1.0, 1.0])
    ids, lps = core.topk(x, 1)
    np.testing.assert_array_equal(ids, [[0], [0]])
    np.testing.assert_array_equal(lps, [[0.0], [0.0]])


def test_zero_rows() -> None:
    x = np.zeros((0, 50), np.float32)
    rs = core.row_stats(x, np.zeros(0, np.int64))
    assert rs.logsumexp.shape == (0,) and rs.argmax.dtype == np.int32
    d = core.divergence(x, x)
    assert d.kl.shape == (0,) and len(d.to_frame()) == 0
    assert core.class_mass(x, np.zeros(50, np.int32), 3).shape == (0, 3)
    ids, lps = core.topk(x, 4)
    assert ids.shape == (0, 4) and lps.shape == (0, 4)
    tt = core.topk_tail_divergence(np.zeros((0, 2), np.int32), np.zeros((0, 2), np.float32), x)
    assert tt.kl_lower.shape == (0,)


def test_argmax_ties_go_to_the_lowest_id() -> None:
    x = np.zeros((1, 1000), np.float32)
    x[0, [700, 300, 999]] = 5.0
    assert core.row_stats(x).argmax[0] == 300


def test_results_are_new_arrays_with_documented_dtypes() -> None:
    x = np.zeros((2, 8), np.float32)
    d = core.divergence(x, x)
    assert d.kl.dtype == np.float64 and d.argmax_ref.dtype == np.int32
    assert d.to_frame().shape == (2, 11)
    assert list(core.row_stats(x).to_frame().columns) == [
        "logsumexp", "entropy", "argmax", "max_logprob", "target_logprob"
    ]  # fmt: skip


# ------------------------------------------------------------------------------------------------
# float16 cached reference, top-K reference


def test_divergence_from_logprobs16_matches_float32_path(simd: str) -> None:
    rng = np.random.default_rng(8)
    x = logits(rng, 4, 3000, 3.0)
    lp16 = (x - core.row_stats(x).logsumexp[:, None]).astype(np.float16)
    lp16[0, :10] = -np.inf
    y = perturb(rng, x, 0.05)
    t = rng.integers(0, 3000, 4)
    got = core.divergence_from_logprobs16(lp16, y, t)
    want = core.divergence(lp16.astype(np.float32), y, t)
    for f in ("kl", "kl_reverse", "js", "entropy_ref", "entropy_var", "target_logprob_ref"):
        np.testing.assert_allclose(getattr(got, f), getattr(want, f), rtol=1e-12, atol=0, err_msg=f)
    np.testing.assert_array_equal(got.argmax_ref, want.argmax_ref)
    assert_div_close(got, ref_divergence(lp16.astype(np.float32), y, t))


def test_half_conversion_is_exact_for_every_float16() -> None:
    """Each float16 bit pattern (NaN, inf, subnormals included) next to a 0.0 logit: the float16
    kernel must agree bit for bit with the float32 kernel on numpy's conversion."""
    h = np.arange(65536, dtype=np.uint16).view(np.float16)
    m16 = np.stack([h, np.zeros_like(h)], axis=1)
    var = np.zeros((65536, 2), np.float32)
    t = np.zeros(65536, np.int32)
    got = core.divergence_from_logprobs16(m16, var, t)
    want = core.divergence(m16.astype(np.float32), var, t)
    for f in ("target_logprob_ref", "entropy_ref", "kl", "js"):
        np.testing.assert_array_equal(getattr(got, f), getattr(want, f), err_msg=f)
    np.testing.assert_array_equal(got.argmax_ref, want.argmax_ref)


def _topk_ref(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    lp, _, _ = ref_logprobs(x)
    ids = np.stack([ref_topk_ids(r, k) for r in x]).astype(np.int32)
    return ids, np.take_along_axis(lp, ids, axis=1).astype(np.float32)


def test_topk_tail_bounds_bracket_the_true_kl(simd: str) -> None:
    rng = np.random.default_rng(9)
    x = logits(rng, 6, 5000, 3.0)
    y = perturb(rng, x, 0.1)
    t = rng.integers(0, 5000, 6)
    exact = ref_divergence(x, y, t)["kl"]
    for k in (1, 10, 100):
        ids, lps = _topk_ref(x, k)
        tt = core.topk_tail_divergence(ids, lps, y, t)
        assert np.all(tt.kl_lower <= exact * (1 + 1e-5) + 1e-12)
        assert np.all(tt.kl_upper >= exact * (1 - 1e-5) - 1e-12)
        lq, _, _ = ref_logprobs(y)
        np.testing.assert_allclose(tt.target_logprob_var, lq[np.arange(6), t], atol=2e-6)
        np.testing.assert_allclose(tt.tail_mass_var, 1 - np.exp(np.take_along_axis(lq, ids, 1)).sum(1), atol=1e-7)
        np.testing.assert_allclose(tt.tail_mass_ref, 1 - np.exp(lps.astype(np.float64)).sum(1), atol=1e-7)
        ent = ref_row_stats(y)["entropy"]
        np.testing.assert_allclose(tt.entropy_var, ent, rtol=RTOL)
    # the whole vocabulary stored: both bounds are the exact KL
    ids, lps = _topk_ref(x, 5000)
    tt = core.topk_tail_divergence(ids, lps, y)
    np.testing.assert_allclose(tt.kl_lower, exact, rtol=1e-4)
    np.testing.assert_allclose(tt.kl_upper, exact, rtol=1e-4)


def test_topk_tail_masked_variant_tail_gives_infinite_upper_bound() -> None:
    x = np.array([[3.0, 2.0, 1.0, 0.0, -1.0]], np.float32)
    y = x.copy()
    y[0, 4] = -np.inf
    ids, lps = _topk_ref(x, 2)
    tt = core.topk_tail_divergence(ids, lps, y)
    assert tt.kl_upper[0] == np.inf and np.isfinite(tt.kl_lower[0])
    # masked variant token inside the top-K: the tail minimum must skip it
    y2 = x.copy()
    y2[0, 0] = -np.inf
    tt2 = core.topk_tail_divergence(ids, lps, y2)
    assert tt2.kl_lower[0] == np.inf
    y3 = x.copy()
    y3[0, 1] = -10.0  # the row minimum sits on a top-K token
    tt3 = core.topk_tail_divergence(ids, lps, y3)
    exact = ref_divergence(x, y3)["kl"][0]
    assert tt3.kl_lower[0] <= exact <= tt3.kl_upper[0]


def test_topk_tail_rejects_bad_reference() -> None:
    y = np.zeros((1, 10), np.float32)
    with pytest.raises(InputError, match="repeats"):
        core.topk_tail_divergence([[1, 1]], [[-1.0, -2.0]], y)
    with pytest.raises(InputError, match="outside"):
        core.topk_tail_divergence([[1, 10]], [[-1.0, -2.0]], y)
    with pytest.raises(InputError, match="shape"):
        core.topk_tail_divergence([[1, 2]], [[-1.0]], y)
    with pytest.raises(InputError, match="rows"):
        core.topk_tail_divergence([[1, 2], [3, 4]], [[-1.0, -2.0], [-1.0, -2.0]], y)
    tt = core.topk_tail_divergence([[1, 2]], [[np.nan, -2.0]], y)
    assert np.isnan(tt.kl_lower[0]) and np.isnan(tt.kl_upper[0])


# ------------------------------------------------------------------------------------------------
# class mass, top-k


def test_class_mass_matches_reference(simd: str) -> None:
    rng = np.random.default_rng(10)
    for vocab in (1, 5, 999, 40000):
        x = logits(rng, 4, vocab, 4.0)
        x[0, :: max(1, vocab // 10)] = -np.inf
        x[0, 0] = 0.0
        cm = rng.integers(-1, 6, size=vocab).astype(np.int64)
        got = core.class_mass(x, cm, 6)
        np.testing.assert_allclose(got, ref_class_mass(x, cm, 6), rtol=1e-6, atol=1e-15)
        full = rng.integers(0, 6, size=vocab)
        np.testing.assert_allclose(core.class_mass(x, full, 6).sum(axis=1), 1.0, rtol=1e-9)


def test_class_mass_of_masked_tokens_is_exactly_zero() -> None:
    x = np.array([[0.0, -np.inf, 1.0, -np.inf]], np.float32)
    m = core.class_mass(x, [0, 1, 0, 1], 2)
    assert m[0, 1] == 0.0 and m[0, 0] == pytest.approx(1.0)
    with pytest.raises(InputError, match="class_map"):
        core.class_mass(x, [0, 1, 2, 0], 2)
    with pytest.raises(InputError, match="entries"):
        core.class_mass(x, [0, 1], 2)


def test_topk_matches_reference_with_ties(simd: str) -> None:
    rng = np.random.default_rng(11)
    x = np.round(logits(rng, 5, 3000, 2.0))  # many ties
    x[1, :] = 0.0  # all tied
    for k in (0, 1, 5, 64, 3000):
        ids, lps = core.topk(x, k)
        assert ids.shape == (5, k) and ids.dtype == np.int32 and lps.dtype == np.float64
        want_ids = np.stack([ref_topk_ids(r, k) for r in x]) if k else np.zeros((5, 0))
        np.testing.assert_array_equal(ids, want_ids)
        lp, _, _ = ref_logprobs(x)
        np.testing.assert_allclose(lps, np.take_along_axis(lp, ids.astype(np.int64), 1), atol=2e-6)
    with pytest.raises(InputError, match="exceeds"):
        core.topk(x, 3001)
    with pytest.raises(InputError):
        core.topk(x, -1)


def test_topk_with_fewer_finite_tokens_than_k() -> None:
    x = np.full((1, 6), -np.inf, np.float32)
    x[0, 4] = 1.0
    ids, lps = core.topk(x, 3)
    np.testing.assert_array_equal(ids, [[4, 0, 1]])
    assert lps[0, 0] == 0.0 and np.all(lps[0, 1:] == -np.inf)


# ------------------------------------------------------------------------------------------------
# inputs: buffers, validation, threads


def test_accepts_buffer_protocol_objects_without_copying() -> None:
    rows, vocab = 3, 40
    raw = (ctypes.c_float * (rows * vocab))()
    rng = np.random.default_rng(12)
    vals = rng.standard_normal(rows * vocab).astype(np.float32)
    ctypes.memmove(raw, vals.ctypes.data, vals.nbytes)
    mv = memoryview(raw).cast("B").cast("f", (rows, vocab))
    want = core.row_stats(vals.reshape(rows, vocab))
    got = core.row_stats(mv)
    np.testing.assert_array_equal(got.entropy, want.entropy)
    # writes through the buffer are seen: no copy was taken
    raw[0] = 100.0
    assert core.row_stats(mv).argmax[0] == 0
    d = core.divergence(mv, vals.reshape(rows, vocab))
    assert d.kl[0] > 0 and d.kl[1] == 0.0


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: np.zeros((2, 5), np.float64), "float32"),
        (lambda: np.zeros((2, 5), np.float16), "float32"),
        (lambda: np.zeros(5, np.float32), "2-D"),
        (lambda: np.zeros((2, 5, 1), np.float32), "2-D"),
        (lambda: np.zeros((5, 4), np.float32).T, "C-contiguous"),
        (lambda: np.zeros((2, 10), np.float32)[:, ::2], "C-contiguous"),
        (lambda: np.zeros((2, 0), np.float32), "vocab"),
        (lambda: np.zeros((2, 5), ">f4"), "float32"),
        (lambda: [[0.0, 1.0]], "array or buffer"),
        (lambda: "logits", "array or buffer"),
    ],
)
def test_bad_logits_raise_input_error(make, match: str) -> None:
    with pytest.raises(InputError, match=match):
        core.row_stats(make())


def test_bad_arguments_raise_input_error() -> None:
    x = np.zeros((2, 5), np.float32)
    with pytest.raises(InputError, match="shape"):
        core.divergence(x, np.zeros((2, 6), np.float32))
    with pytest.raises(InputError, match="outside"):
        core.row_stats(x, [0, 5])
    with pytest.raises(InputError, match="outside"):
        core.divergence(x, x, [-1, 0])
    with pytest.raises(InputError, match="entries"):
        core.row_stats(x, [0, 1, 2])
    with pytest.raises(InputError, match="integer"):
        core.row_stats(x, [0.0, 1.0])
    with pytest.raises(InputError, match="float16"):
        core.divergence_from_logprobs16(x, x)
    with pytest.raises(InputError):
        core.class_mass(x, np.zeros(5, np.int32), -1)


def test_core_extension_never_crashes_on_bad_input() -> None:
    """_core validates on its own too (ValueError), for callers that bypass tokprobe.core."""
    x = np.zeros((2, 5), np.float32)
    cases = [
        lambda: _core.row_stats(np.zeros((2, 5))),
        lambda: _core.row_stats(x, np.array([0, 7], np.int32)),
        lambda: _core.row_stats(x, np.array([0, 1], np.int64)),
        lambda: _core.row_stats(np.zeros((5, 4), np.float32).T),
        lambda: _core.row_stats(object()),
        lambda: _core.row_stats(np.zeros((2, 0), np.float32)),
        lambda: _core.divergence(x, np.zeros((3, 5), np.float32)),
        lambda: _core.class_mass(x, np.array([0, 1, 2, 3, 9], np.int32), 4),
        lambda: _core.class_mass(x, np.array([0, 1], np.int32), 4),
        lambda: _core.topk(x, 6),
        lambda: _core.topk_tail_divergence(np.array([[0, 0]], np.int32), np.zeros((1, 2), np.float32), x[:1]),
        lambda: _core.topk_tail_divergence(np.array([[0, 9]], np.int32), np.zeros((1, 2), np.float32), x[:1]),
        lambda: _core.histogram_add(np.array([5], np.int64), np.zeros(5, np.int64)),
        lambda: _core.histogram_add(np.array([-1], np.int32), np.zeros(5, np.int64)),
        lambda: _core.histogram_add(np.array([0], np.int32), np.zeros(5, np.int32)),
        lambda: _core.moments(np.zeros(3, np.float32)),
        lambda: _core.merge_moments((1, 2), (3, 4)),
        lambda: _core.set_threads(0),
    ]
    for case in cases:
        with pytest.raises(ValueError):
            case()


def test_threads_do_not_change_results() -> None:
    rng = np.random.default_rng(13)
    x = logits(rng, 37, 5000, 3.0)
    y = perturb(rng, x, 0.1)
    before = core.get_threads()
    try:
        core.set_threads(1)
        assert core.get_threads() == 1
        one = core.divergence(x, y)
        core.set_threads(2)
        two = core.divergence(x, y)
        core.set_threads(None)
        from tokprobe.provenance import available_cores

        assert core.get_threads() == available_cores()
    finally:
        core.set_threads(before)
    for f in ("kl", "kl_reverse", "js", "entropy_ref"):
        np.testing.assert_array_equal(getattr(one, f), getattr(two, f))
    with pytest.raises(InputError):
        core.set_threads(0)
    with pytest.raises(InputError):
        core.set_threads(2.5)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        core.set_threads(5000)


def test_concurrent_python_threads_share_the_pool() -> None:
    rng = np.random.default_rng(14)
    x = logits(rng, 16, 20000, 3.0)
    y = perturb(rng, x, 0.1)
    want = core.divergence(x, y).kl
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(core.divergence(x, y).kl)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and len(results) == 9
    for r in results:
        np.testing.assert_array_equal(r, want)


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin", reason="needs fork()")
def test_pool_survives_fork() -> None:
    x = logits(np.random.default_rng(15), 8, 4000, 2.0)
    core.set_threads(2)
    want = core.row_stats(x).entropy  # the pool is running now
    pid = os.fork()
    if pid == 0:  # child: the parent's workers do not exist here
        ok = False
        try:
            ok = bool(np.array_equal(core.row_stats(x).entropy, want))
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


def test_benchmark_floors_compute_what_they_claim(simd: str) -> None:
    """read_floor / exp_floor (bench_core's yardsticks) do their stated work, checked in float64."""
    rng = np.random.default_rng(11)
    x = logits(rng, 3, 1001, 3.0)
    y = logits(rng, 3, 1001, 3.0)
    x[0, 0], y[1, 5], x[2, -1] = 120.0, -300.0, 95.0  # clamped to +-80 (the last one in the scalar tail)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    np.testing.assert_allclose(_core.read_floor(x, y), x64.sum() + y64.sum(), rtol=1e-6)
    xc, yc = np.clip(x64, -80, 80), np.clip(y64, -80, 80)
    want = (np.exp(xc) + np.exp(yc) + np.exp(-xc) + np.exp(-yc)).sum()
    np.testing.assert_allclose(_core.exp_floor(x, y), want, rtol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        _core.exp_floor(x, y[:2])
