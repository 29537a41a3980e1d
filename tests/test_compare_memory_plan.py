"""The memory planner: estimates from the GGUF header, the mode it picks, and the error before loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tokprobe.compare import compare
from tokprobe.compare.memory_plan import parse_size, plan_memory
from tokprobe.errors import InputError
from tokprobe.models.gguf_file import read_header
from tokprobe.models.memory import estimate_model


@pytest.mark.parametrize(("text", "n"), [("8G", 8 * 2**30), ("512M", 512 * 2**20), ("16GiB", 16 * 2**30),
                                         ("2.5g", int(2.5 * 2**30)), ("1000", 1000), (" 64 kb ", 64 * 2**10)])
def test_parse_size(text: str, n: int) -> None:
    assert parse_size(text) == n


@pytest.mark.parametrize("bad", ["", "lots", "-1G", "0", "8X"])
def test_parse_size_rejects(bad: str) -> None:
    with pytest.raises(InputError):
        parse_size(bad)


def test_estimate_parts_follow_the_header(tiny_model_path: Path) -> None:
    h = read_header(tiny_model_path)
    e = estimate_model(h, n_ctx=128, n_batch=64, out_rows=16)
    n_layer, n_embd = int(h.arch_value("block_count")), int(h.arch_value("embedding_length"))
    n_head, n_kv = int(h.arch_value("attention.head_count")), int(h.arch_value("attention.head_count_kv"))
    assert e.weights == h.tensor_bytes
    assert e.kv == 128 * n_layer * n_kv * 2 * (n_embd // n_head) * 2  # K and V, float16
    assert e.outputs == 2 * 16 * h.n_vocab * 4  # the logits buffer and its share of the compute buffer
    assert e.total == e.weights + e.repack + e.kv + e.outputs + e.activations + e.vocab
    assert estimate_model(h, n_ctx=256, n_batch=64, out_rows=16).kv == 2 * e.kv


def test_auto_takes_lockstep_when_it_fits_and_the_cache_otherwise(tiny_model_path: Path,
                                                                   tiny_model_path_b: Path) -> None:
    paths = [tiny_model_path, tiny_model_path_b, tiny_model_path_b]
    roomy = plan_memory(paths, mode="auto", n_ctx=64, n_batch=64, budget=2**40)
    assert roomy.mode == "lockstep" and roomy.cached_peak < roomy.lockstep_peak
    tight = plan_memory(paths, mode="auto", n_ctx=64, n_batch=64, budget=(roomy.cached_peak + roomy.lockstep_peak) // 2)
    assert tight.mode == "cache-exact" and tight.peak == tight.cached_peak
    with pytest.raises(InputError, match="mode lockstep needs about .* --mode cache-exact holds one model"):
        plan_memory(paths, mode="lockstep", n_ctx=64, n_batch=64, budget=tight.budget)
    with pytest.raises(InputError, match="mode cache-exact needs about"):
        plan_memory(paths, mode="auto", n_ctx=64, n_batch=64, budget=roomy.cached_peak - 1)


def test_compare_records_the_plan_and_stops_before_loading(tiny_model_path: Path, tiny_model_path_b: Path,
                                                           tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.py").write_text("def f(x):\n    return [x * i for i in range(10)]\n" * 4)
    r = compare(tiny_model_path, [tiny_model_path_b], corpus, n_ctx=64, run_dir=tmp_path / "r",
                cache_dir=tmp_path / "cache")
    mp = r.provenance.settings["memory_plan"]
    assert mp["requested"] == "auto" and mp["mode"] == "lockstep" == r.settings.mode
    assert [m["model"] for m in mp["models"]] == [tiny_model_path.name, tiny_model_path_b.name]
    with pytest.raises(InputError, match="memory budget"):
        compare(tiny_model_path, [tiny_model_path_b], corpus, n_ctx=64, run_dir=tmp_path / "r2",
                cache_dir=tmp_path / "cache", memory_budget=1000)
    assert not (tmp_path / "r2" / "state").exists()  # stopped before any pass


def test_cli_plan_prints_the_estimate_and_bad_budgets_are_one_line(
        tiny_model_path: Path, tiny_model_path_b: Path, cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["compare", str(tiny_model_path), str(tiny_model_path_b), "--plan", "-f", "csv"]) == 0
    out = capsys.readouterr().out
    assert "peak, lock-step" in out and tiny_model_path.name in out
    assert cli(["compare", str(tiny_model_path), str(tiny_model_path_b), "--memory-budget", "lots"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: memory budget 'lots'") and "\n" not in err
