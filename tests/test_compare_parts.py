"""A comparison split into parts and joined gives the whole run's numbers (tokprobe.compare.parts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tokprobe.compare import compare, compare_part, join_parts, part_windows
from tokprobe.errors import InputError
from tokprobe.models import Window


def _windows(scored: list[int]) -> list[Window]:
    return [Window(index=i, start=0, end=n + 1, bos_first=False, lo=0, hi=n) for i, n in enumerate(scored)]


def test_parts_cover_every_window_once_in_order() -> None:
    ws = _windows([10, 300, 5, 5, 40, 200, 1, 80])
    for parts in (1, 2, 3, 5, 12):
        got = [part_windows(ws, k, parts) for k in range(parts)]
        assert [w.index for g in got for w in g] == list(range(len(ws)))  # contiguous, in order, each once
    halves = [sum(w.n_scored for w in part_windows(ws, k, 2)) for k in range(2)]
    assert halves == [320, 321]  # the 4th window (rows 315-320 of 641) has its middle in the first half


@pytest.mark.parametrize("mode", ["lockstep", "cache-exact", "cache-topk"])
def test_joined_parts_equal_the_whole_run(tiny_model_path: Path, tiny_model_path_b: Path, small_corpus: Path,
                                          tmp_path: Path, mode: str) -> None:
    opts = {"n_ctx": 32, "mode": mode, "threads": 1, "topk": 16}
    whole = compare(tiny_model_path, [tiny_model_path_b], small_corpus, run_dir=tmp_path / "whole",
                    cache_dir=tmp_path / "whole-cache", **opts)
    parts = []
    for k in range(3):
        info = compare_part(tiny_model_path, [tiny_model_path_b], small_corpus, part=k, parts=3,
                            run_dir=tmp_path / f"p{k}", cache_dir=tmp_path / f"p{k}-cache", **opts)
        assert info["n_scored"] > 0
        parts.append((tmp_path / f"p{k}", tmp_path / f"p{k}-cache"))
    assert join_parts(parts, tmp_path / "joined", tmp_path / "joined-cache") > 0
    joined = compare(tiny_model_path, [tiny_model_path_b], small_corpus, run_dir=tmp_path / "joined",
                     cache_dir=tmp_path / "joined-cache", **opts)
    assert "passes_s" not in joined.provenance.settings["timings"]  # nothing was decoded again
    keep = [c for c in whole.summary.columns if not c.endswith("_s") and c not in ("run_dir",)]
    pd.testing.assert_frame_equal(whole.summary[keep], joined.summary[keep], check_exact=True)
    for v in whole.variants:
        for k, a in whole.per_variant[v].items():
            np.testing.assert_array_equal(a, joined.per_variant[v][k])
    assert joined.floor == whole.floor


def test_a_part_needs_a_resolved_mode(tiny_model_path: Path, tiny_model_path_b: Path, small_corpus: Path) -> None:
    with pytest.raises(InputError, match="mode resolved"):
        compare_part(tiny_model_path, [tiny_model_path_b], small_corpus, part=0, parts=2)
    with pytest.raises(InputError, match="0 <= part < parts"):
        compare_part(tiny_model_path, [tiny_model_path_b], small_corpus, part=2, parts=2, mode="lockstep")


def test_more_parts_than_windows_still_join_to_the_whole_run(tiny_model_path: Path, tiny_model_path_b: Path,
                                                             small_corpus: Path, tmp_path: Path) -> None:
    opts = {"n_ctx": 64, "mode": "cache-exact", "threads": 1}
    whole = compare(tiny_model_path, [tiny_model_path_b], small_corpus, run_dir=tmp_path / "whole",
                    cache_dir=tmp_path / "whole-cache", **opts)
    parts = 3 * whole.provenance.settings["n_windows"]  # most parts are empty, part 0 among them
    infos = [compare_part(tiny_model_path, [tiny_model_path_b], small_corpus, part=k, parts=parts,
                          run_dir=tmp_path / f"p{k}", cache_dir=tmp_path / f"p{k}-cache", **opts) for k in range(parts)]
    assert infos[0]["windows"] == [] and sum(len(i["windows"]) for i in infos) == whole.provenance.settings["n_windows"]
    join_parts([(tmp_path / f"p{k}", tmp_path / f"p{k}-cache") for k in range(parts)], tmp_path / "joined",
               tmp_path / "joined-cache")
    joined = compare(tiny_model_path, [tiny_model_path_b], small_corpus, run_dir=tmp_path / "joined",
                     cache_dir=tmp_path / "joined-cache", **opts)
    timings = joined.provenance.settings["timings"]
    assert "floor_s" not in timings and "passes_s" not in timings  # the part with window 0 measured the floor
    assert joined.floor == whole.floor
    pd.testing.assert_frame_equal(whole.summary.drop(columns=["run_dir"], errors="ignore").filter(regex="^(?!.*_s$)"),
                                  joined.summary.drop(columns=["run_dir"], errors="ignore").filter(regex="^(?!.*_s$)"))


def test_a_misspelled_option_is_refused(tiny_model_path: Path, tiny_model_path_b: Path, small_corpus: Path) -> None:
    with pytest.raises(InputError, match="unknown option"):
        compare_part(tiny_model_path, [tiny_model_path_b], small_corpus, part=0, parts=2, mode="lockstep", nctx=32)
