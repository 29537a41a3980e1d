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
    assert line == "`q4`: no class is detectably more fragile than the others (intervals overlap; n = 1500 tokens)."


def test_too_few_groups_are_named_and_never_ranked() -> None:
    d = _classes({"keyword": (0.30, 0.25, 0.36), "comment": (0.10, 0.08, 0.12), "string": (9.0, 8.0, 10.0)},
                 too_few={"string"})
    lines = G.class_guidelines(d)
    assert "`keyword` tokens lose most" in lines[0] and "string" not in lines[0]
    assert lines[-1] == "Too few tokens or files to rank: `string`."


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
