"""The keyword-set bootstrap of the cold-start masses, against cases with known answers."""

from __future__ import annotations

import math

import numpy as np

from tokprobe.coldstart.intervals import draws, mass_interval, ratio_interval


def test_equal_keyword_probabilities_give_a_zero_width_interval() -> None:
    p = np.full(50, 0.002)
    lo, hi = mass_interval(p, 0.1, draws(p.size))
    assert math.isclose(lo, 0.1) and math.isclose(hi, 0.1)


def test_the_interval_holds_the_mass_and_widens_with_concentration() -> None:
    rng = np.random.default_rng(1)
    even = rng.uniform(0.9, 1.1, 200) * 1e-4
    peaked = even.copy()
    peaked[0] = 0.05  # one keyword holds most of the mass: the set's choice matters more
    c = draws(200)
    lo_e, hi_e = mass_interval(even, float(even.sum()), c)
    lo_p, hi_p = mass_interval(peaked, float(peaked.sum()), c)
    assert lo_e <= even.sum() <= hi_e and lo_p <= peaked.sum() <= hi_p
    assert (hi_p - lo_p) / peaked.sum() > 5 * (hi_e - lo_e) / even.sum()


def test_a_uniform_shift_is_exact_and_a_mixed_one_is_not() -> None:
    ref = np.random.default_rng(2).uniform(0.0, 1e-3, 100)
    r = ratio_interval(0.5 * ref, ref, draws(100))
    assert math.isclose(r["pkp_ratio"], 0.5) and math.isclose(r["pkp_ratio_lo"], 0.5)
    assert math.isclose(r["pkp_ratio_hi"], 0.5)
    var = ref.copy()
    var[:50] *= 0.2  # half the keywords collapse: the ratio depends on which keywords are drawn
    r = ratio_interval(var, ref, draws(100))
    assert r["pkp_ratio_lo"] < r["pkp_ratio"] < r["pkp_ratio_hi"]


def test_the_bootstrap_is_seeded_and_the_degenerate_cases_are_nan() -> None:
    assert np.array_equal(draws(30), draws(30))
    assert not np.array_equal(draws(30, seed=0), draws(30, seed=1))
    assert all(math.isnan(x) for x in mass_interval(np.array([0.3]), 0.3, draws(1)))
    assert math.isnan(ratio_interval(np.ones(3), np.ones(4), draws(3))["pkp_ratio_lo"])
