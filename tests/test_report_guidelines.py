"""Guidelines follow the intervals: a claim only where they separate, picks at the conservative end."""

from __future__ import annotations

import pandas as pd

from tokprobe.report import guidelines as G


def _classes(lo_hi: dict[str, tuple[float, float, float]], too_few: set[str] = frozenset()) -> pd.DataFrame:
    rows = [{"variant": "q4", "class": c, "kl_mean": m, "kl_mean_lo": lo, "kl_mean_hi": hi, "n_tokens": 500,
             "n_files": 8, "too_few": c in too_few} for c, (m, lo, hi) in lo_hi.items()]
    return pd.DataFrame(rows)


def test_a_class_is_named_only_when_its_interval_clears_the_others() -> None:
    apart = _classes({"keyword": (0.30, 0.25, 0.36), "comment": (0.10, 0.08, 0.12), "operator": (0.12, 0.1, 0.2)})
    (line,) = G.class_guidelines(apart)
    assert line.startswith("`q4`: `keyword` tokens lose most (KL 0.3 [0.25, 0.36], n = 500 tokens in 8 files)")
    overlap = _classes({"keyword": (0.30, 0.15, 0.36), "comment": (0.10, 0.08, 0.12), "operator": (0.12, 0.1, 0.2)})
    (line,) = G.class_guidelines(overlap)
    assert line == ("`q4`: no class is detectably more fragile than the others (intervals overlap; n = 1500 tokens "
                    "in 3 class groups).")


def test_too_few_groups_are_named_and_never_ranked() -> None:
    d = _classes({"keyword": (0.30, 0.25, 0.36), "comment": (0.10, 0.08, 0.12), "string": (9.0, 8.0, 10.0)},
                 too_few={"string"})
    lines = G.class_guidelines(d)
    assert "`keyword` tokens lose most" in lines[0] and "string" not in lines[0]
    assert lines[-1] == "Too few tokens or files to rank (class): `string`."


def test_size_pick_uses_the_upper_end_of_the_interval() -> None:
    v = pd.DataFrame({"model": ["a", "b"], "label": ["a", "b"], "file_size": [2**20, 2**21],
                      "bits_per_weight": [4.0, 8.0], "kl_mean": [0.04, 0.02], "kl_err": [0.001, 0.001],
                      "kl_mean_lo": [0.03, 0.015], "kl_mean_hi": [0.06, 0.03]})
    lines = G.size_guidelines(v, None, "ref")
    # a's mean (0.04) is under 0.05 but its interval reaches 0.06: b is the smallest that surely is
    assert lines[1].startswith("Smallest variant with the upper end of mean KL's 95% interval < 0.05 nats/token: `b`")
    assert "KL 0.02 [0.015, 0.03]" in lines[1]
    assert lines[2].startswith("Smallest variant with the upper end of mean KL's 95% interval < 0.1 nats/token: `a`")


def test_cache_topk_picks_use_the_upper_end_of_the_bracket() -> None:
    v = pd.DataFrame({"model": ["a"], "label": ["a"], "file_size": [2**20], "bits_per_weight": [4.0],
                      "kl_mean": [0.004], "kl_err": [0.0001], "kl_mean_lo": [0.003], "kl_mean_hi": [0.005],
                      "kl_upper_mean_hi": [0.02]})
    assert G.conservative_kl(v.iloc[0]) == 0.02
    assert G.size_guidelines(v, None, "ref")[0].startswith("No variant stays under the upper end")


def test_a_language_is_named_only_when_its_interval_clears_the_others() -> None:
    d = _classes({"rust": (0.5, 0.4, 0.6), "go": (0.2, 0.1, 0.3), "c": (0.25, 0.2, 0.35)}).rename(
        columns={"class": "language"})
    (line,) = G.group_guidelines(d, "language", "language")
    assert line.startswith("`q4`: `rust` lose most (KL 0.5 [0.4, 0.6]")
    d.loc[0, "kl_mean_lo"] = 0.3  # now it overlaps c's interval
    assert "no language is detectably more fragile" in G.group_guidelines(d, "language", "language")[0]


def _pair(a: str, b: str, diff: float, lo: float, hi: float) -> dict[str, object]:
    return {"variant_a": a, "variant_b": b, "metric": "kl_mean", "diff": diff, "diff_lo": lo, "diff_hi": hi,
            "n_tokens": 6000, "n_files": 61}


def test_an_ordering_is_stated_only_when_the_paired_interval_excludes_zero() -> None:
    v = pd.DataFrame({"label": ["q8", "q6", "q4"], "file_size": [300.0, 250.0, 200.0]})
    pw = pd.DataFrame([
        _pair("q8", "q6", -0.010, -0.015, -0.004),  # q6 further than q8: q8 - q6 < 0 surely
        _pair("q8", "q4", -0.05, -0.06, -0.04),
        _pair("q6", "q4", 0.002, -0.003, 0.007),  # q4 vs q6: no detectable difference
    ])
    lines = G.ordering_guidelines(v, pw, "f16")
    assert lines[0] == ("`q6` is further from `f16` than the larger `q8` (ΔKL +0.01 [+0.004, +0.015] nats/token, "
                        "n = 6000 tokens in 61 files).")
    assert lines[1].startswith("No detectable difference between `q6` and `q4` (ΔKL -0.002 [-0.007, +0.003]")
    pw.loc[2, ["diff", "diff_lo", "diff_hi"]] = [0.01, 0.005, 0.02]  # q6 - q4 > 0: the smaller q4 is closer
    assert G.ordering_guidelines(v, pw, "f16")[1].startswith("`q4` is *closer* to `f16` than the larger `q6`")
    assert G.ordering_guidelines(v, None, "f16") == []
