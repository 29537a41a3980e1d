"""Completion metrics against hand-computed cases, and the result tables (summary, paired, flips)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tokprobe.complete import CompleteResult, edit_similarity, exact_match, extract, normalize


def test_normalize_collapses_and_strips_whitespace() -> None:
    assert normalize("  return  x +\t1 \n") == "return x + 1"
    assert normalize("a\n    b") == "a b"
    assert normalize(" \n\t") == ""


def test_exact_match_ignores_whitespace_only() -> None:
    assert exact_match("return x+1", "return x+1")
    assert exact_match("  return   x+1\n", "return x+1")
    assert not exact_match("return x + 1", "return x+1")  # a space inside a run of code counts
    assert not exact_match("return y", "return x")
    assert exact_match("", "   ")


@pytest.mark.parametrize(("a", "b", "want"), [
    ("abc", "abc", 1.0),
    ("abc", "abd", 1 - 1 / 3),  # one substitution
    ("abcd", "ab", 1 - 2 / 4),  # two deletions over the longer length
    ("kitten", "sitting", 1 - 3 / 7),  # the textbook distance 3
    ("", "", 1.0),
    ("", "xy", 0.0),
    ("x  =  1", "x = 1", 1.0),  # normalised first
])
def test_edit_similarity_is_normalised_levenshtein(a: str, b: str, want: float) -> None:
    assert edit_similarity(a, b) == pytest.approx(want)


def test_extract_line_and_block() -> None:
    assert extract("x = 1\ny = 2\n", 0, "line", -1) == ("x = 1", True)
    assert extract("x = 1", 0, "line", -1) == ("x = 1", False)
    # a token straddling the probe brought one newline before it: it is skipped, not an end
    assert extract("\n    x = 1\ny", 1, "line", -1) == ("\n    x = 1", True)
    block = "a = 1\n        b = 2\n\n        c = 3\n    return a\n"
    assert extract(block, 0, "block", 4) == ("a = 1\n        b = 2\n\n        c = 3", True)
    assert extract("a = 1\n        b = 2", 0, "block", 4) == ("a = 1\n        b = 2", False)


def _rows(model: str, exact: list[float], valid: list[float]) -> list[dict[str, object]]:
    rows = []
    for i, (e, v) in enumerate(zip(exact, valid, strict=True)):
        rows.append({"model": model, "language": "python" if i < 6 else "go", "file": f"f{i // 2}", "probe": i % 2,
                     "exact": e, "edit_sim": 0.5 * e + 0.25, "valid": v, "empty": False, "n_generated": 3,
                     "kl_first": 0.0 if model == "ref" else 0.1 * (1 - e), "first_same": e == 1.0})
    return rows


def test_result_tables_hand_computed() -> None:
    ref = _rows("ref", [1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0], [1] * 12)
    var = _rows("var", [1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0], [1, 0] * 6)
    res = CompleteResult.build(ref + var, [], ["ref", "var"], {}, [], n_boot=200, seed=0)
    s = res.summary().set_index(["model", "language"])
    assert s.loc[("ref", "all"), "exact"] == pytest.approx(8 / 12)
    assert s.loc[("var", "python"), "exact"] == pytest.approx(3 / 6)
    assert s.loc[("var", "all"), "valid"] == pytest.approx(0.5)
    assert s.loc[("ref", "all"), "n_files"] == 6
    lo, hi = s.loc[("ref", "all"), "exact_lo"], s.loc[("ref", "all"), "exact_hi"]
    assert lo <= 8 / 12 <= hi and hi - lo > 0
    p = res.paired().set_index(["model", "language"])
    assert p.loc[("var", "all"), "d_exact"] == pytest.approx((6 - 8) / 12)
    assert p.loc[("var", "all"), "d_valid"] == pytest.approx(-0.5)
    assert bool(p.loc[("var", "all"), "loses_validity"])  # every resampled difference is below 0
    f = res.flips().set_index(["model", "language"])
    assert f.loc[("var", "all"), "lost"] == 3 and f.loc[("var", "all"), "gained"] == 1
    assert f.loc[("var", "all"), "net"] == -2
    assert f.loc[("var", "all"), "kl_first_lost"] == pytest.approx(0.1)
    assert f.loc[("var", "all"), "first_changed_gained"] == pytest.approx(0.0)
    assert f.loc[("var", "python"), "lost"] == 2 and f.loc[("var", "python"), "gained"] == 0
    assert math.isnan(f.loc[("var", "python"), "kl_first_gained"])  # no gained probe: no mean


def test_result_round_trip(tmp_path: Path) -> None:
    ref = _rows("ref", [1, 0] * 6, [1] * 12)
    res = CompleteResult.build(ref, [{"model": "ref", "seconds": 1.0}], ["ref"], {"x": 1}, ["a note"], n_boot=50)
    d = res.save(tmp_path / "out")
    back = CompleteResult.load(d)
    assert back.models == ["ref"] and back.notes == ["a note"]
    assert back.summary().equals(res.summary())


def test_guidelines_claim_a_loss_only_where_the_interval_excludes_zero() -> None:
    import pandas as pd

    from tokprobe.report.completion import completion_guidelines

    def row(model: str, language: str, d: float, lo: float, hi: float, too_few: bool = False) -> dict[str, object]:
        r: dict[str, object] = {"model": model, "language": language, "n": 120, "n_files": 30, "too_few": too_few}
        for m in ("exact", "edit_sim", "valid"):
            r.update({f"d_{m}": d, f"d_{m}_lo": lo, f"d_{m}_hi": hi})
        return r

    paired = pd.DataFrame([
        row("q2", "all", -0.05, -0.08, -0.02), row("q2", "go", -0.2, -0.4, -0.05), row("q2", "c", -0.1, -0.3, 0.05),
        row("q8", "all", -0.01, -0.03, 0.01),
        row("tiny", "all", -0.5, -0.6, -0.4, too_few=True),
    ])
    lines = completion_guidelines(paired, "f16")
    assert lines[0].startswith("Completion probes: q2 loses exact match, edit similarity and validity against f16")
    assert "exact match lower in go." in lines[0] and "c" not in lines[0].split("lower in")[1].replace("go", "")
    assert lines[1].startswith("Completion probes: no detectable difference between q8 and f16")
    assert "too few probes" in lines[2]


def test_too_few_probes_are_never_claimed_to_lose() -> None:
    ref = _rows("ref", [1] * 12, [1] * 12)
    var = _rows("var", [0] * 12, [0] * 12)
    res = CompleteResult.build(ref[:4] + var[:4], [], ["ref", "var"], {}, [], n_boot=50)  # 4 probes, 2 files
    p = res.paired().set_index(["model", "language"])
    assert p.loc[("var", "all"), "d_exact"] == -1.0 and bool(p.loc[("var", "all"), "too_few"])
    assert not p["loses"].any() and not p["loses_validity"].any()


def test_cli_compact_table() -> None:
    import pandas as pd

    from tokprobe.cli.complete import compact

    df = pd.DataFrame({"model": ["a"], "exact": [0.5], "exact_lo": [0.25], "exact_hi": [0.75], "n": [4]})
    assert compact(df).to_dict("records") == [{"model": "a", "exact": "0.500 [0.250, 0.750]", "n": 4}]
