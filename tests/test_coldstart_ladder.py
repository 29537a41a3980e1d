"""Which rung of a quant ladder is the cold-start reference (tokprobe.coldstart.ladder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokprobe.coldstart import ladder as ladder_mod
from tokprobe.coldstart import ladder_models
from tokprobe.models import order_ladder


def test_unquantized_rungs_go_first_the_rest_keep_their_order() -> None:
    assert order_ladder(["Q8_0", "F16", "Q4_0", "q2_k"]) == ["F16", "Q8_0", "Q4_0", "q2_k"]
    assert order_ladder(["Q4_0", "bf16", "F32"]) == ["bf16", "F32", "Q4_0"]
    assert order_ladder([]) == []


def test_ladder_models_labels_by_file_stem_reference_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple[object, ...]] = []

    def fake_ladder(source: str | None, types: object = None, progress: object = None) -> dict[str, Path]:
        calls.append((source, types, progress))
        return {t: tmp_path / f"m-{t}.gguf" for t in ("Q8_0", "F16", "Q2_K")}

    monkeypatch.setattr(ladder_mod.models, "ladder", fake_ladder)
    got = ladder_models("m")
    assert list(got) == ["m-F16", "m-Q8_0", "m-Q2_K"]
    assert got["m-F16"] == str(tmp_path / "m-F16.gguf")
    assert calls == [("m", None, None)]
