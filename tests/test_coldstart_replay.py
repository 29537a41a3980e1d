"""Cold-start rows measured in one process and analysed in another give the same result (coldstart.replay)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tokprobe.coldstart import ColdRow, coldstart, measure_row
from tokprobe.errors import FileFormatError, InputError


def test_replayed_rows_give_the_full_models_result(tiny_model_path: Path, tiny_model_path_b: Path,
                                                   tmp_path: Path) -> None:
    models = {"a": str(tiny_model_path), "b": str(tiny_model_path_b)}
    direct = coldstart(models, context="auto", top_k=10, threads=1)
    rows = {}
    for name, path in models.items():
        measure_row(path, context="auto", threads=1).save(tmp_path / f"{name}.npz")
        rows[path] = ColdRow.load(tmp_path / f"{name}.npz")
    replayed = coldstart(models, context="auto", top_k=10, threads=1, measured=rows)
    for table in ("summary", "pairwise", "per_language", "top_tokens", "keyword_probs", "shifts"):
        pd.testing.assert_frame_equal(getattr(direct, table), getattr(replayed, table), check_exact=True, obj=table)
    np.testing.assert_array_equal(direct.logits, replayed.logits)


def test_a_row_for_other_context_ids_is_refused(tiny_model_path: Path) -> None:
    row = measure_row(str(tiny_model_path), context="auto", threads=1)
    wrong = ColdRow(row.row, (*row.ids, 7), row.facts)
    with pytest.raises(InputError, match="follows context ids"):
        coldstart({"a": str(tiny_model_path)}, context="auto", measured={str(tiny_model_path): wrong})
    with pytest.raises(InputError, match="full models"):
        coldstart({"a": str(tiny_model_path)}, chain=True, measured={str(tiny_model_path): row})


def test_a_damaged_row_file_is_one_error(tmp_path: Path) -> None:
    bad = tmp_path / "row.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(FileFormatError, match="not a stored cold-start row"):
        ColdRow.load(bad)
