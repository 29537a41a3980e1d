"""The unbiased pass@k estimator against hand-computed values and the naive math.comb formula."""

from __future__ import annotations

import math
from fractions import Fraction

import pandas as pd
import pytest

from tokprobe.codegen import default_ks, estimate, pass_at_k, pass_at_k_array, pass_at_k_naive
from tokprobe.errors import InputError


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (1, 0, 1, 0.0),
        (1, 1, 1, 1.0),
        (2, 1, 1, 0.5),  # one of two samples passes
        (2, 1, 2, 1.0),  # both drawn: the passing one is among them
        (3, 2, 2, 1.0),  # n - c = 1 < k
        (4, 0, 2, 0.0),
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (5, 1, 3, 0.6),  # 1 - C(4,3)/C(5,3) = 1 - 4/10
        (10, 3, 1, 0.3),  # pass@1 = c/n
        (10, 3, 5, 1 - 21 / 252),  # C(7,5)=21, C(10,5)=252
        (200, 1, 100, 0.5),  # 1 - C(199,100)/C(200,100) = 1 - 100/200
    ],
)
def test_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)
    assert pass_at_k_naive(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_1_is_fraction_correct():
    for n in range(1, 30):
        for c in range(n + 1):
            assert pass_at_k(n, c, 1) == pytest.approx(c / n, abs=1e-12)


def test_matches_naive_combinatorial_formula():
    for n in range(1, 26):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
                assert pass_at_k(n, c, k) == pytest.approx(float(exact), abs=1e-12), (n, c, k)


def test_numerically_stable_for_large_n():
    # C(1000, 500) overflows a float; the product form does not
    v = pass_at_k(1000, 3, 500)
    assert v == pytest.approx(float(1 - Fraction(math.comb(997, 500), math.comb(1000, 500))), abs=1e-12)
    assert 0 < pass_at_k(10_000, 1, 1) < 1


def test_monotone_in_k_and_c():
    n = 12
    for c in range(n + 1):
        vals = [pass_at_k(n, c, k) for k in range(1, n + 1)]
        assert all(a <= b + 1e-15 for a, b in zip(vals, vals[1:], strict=False))
    for k in range(1, n + 1):
        vals = [pass_at_k(n, c, k) for c in range(n + 1)]
        assert all(a <= b + 1e-15 for a, b in zip(vals, vals[1:], strict=False))


def test_invalid_arguments():
    for args in [(0, 0, 1), (3, 4, 1), (3, -1, 1), (3, 1, 0), (3, 1, 4)]:
        with pytest.raises(InputError):
            pass_at_k(*args)


def test_array_and_estimate():
    n = [5, 5, 5, 5]
    c = [0, 1, 2, 5]
    arr = pass_at_k_array(n, c, 2)
    assert arr.tolist() == pytest.approx([0.0, 0.4, 0.7, 1.0])
    df = estimate(pd.DataFrame({"n": n, "c": c}))
    assert df["k"].tolist() == [1, 2, 3, 4, 5]
    assert df.loc[df.k == 1, "pass_at_k"].item() == pytest.approx((0 + 0.2 + 0.4 + 1.0) / 4)
    assert df.loc[df.k == 2, "pass_at_k"].item() == pytest.approx(2.1 / 4)
    assert df.loc[df.k == 5, "pass_at_k"].item() == pytest.approx(0.75)
    assert (df["n_problems"] == 4).all()
    # k above the smallest n is skipped
    df2 = estimate(pd.DataFrame({"n": [3, 5], "c": [1, 1]}), ks=[1, 3, 5])
    assert df2["k"].tolist() == [1, 3]


def test_default_ks():
    assert default_ks(1) == [1]
    assert default_ks(5) == [1, 2, 3, 4, 5]
    assert default_ks(200) == list(range(1, 201))
    from tokprobe.codegen.passk import plot_ks

    assert plot_ks(range(1, 201)) == [1, 2, 5, 10, 20, 50, 100, 200]
    assert plot_ks([1, 2, 3]) == [1, 2, 3]


def test_estimate_empty():
    with pytest.raises(InputError):
        estimate(pd.DataFrame({"n": [], "c": []}))
