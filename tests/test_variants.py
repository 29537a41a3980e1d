"""tokprobe.variants: recipe checks, layer selection, the missing-extra error, and a smoke run of the
whole pipeline (fine-tune + 1-layer student of a 2-layer tiny model, a few steps, tiny token budget,
GGUF conversion with llama.cpp's converter, quantization, names). The smoke run needs the ``train``
extra (torch, transformers) and a local llama-cpp-python sdist; it is skipped otherwise.
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import numpy as np
import pytest

from tokprobe.errors import Error, InputError
from tokprobe.variants import Recipe, plan_units, select_layers, source_prefix


def test_select_layers_keeps_ends_evenly() -> None:
    assert select_layers(30, 6) == [0, 6, 12, 17, 23, 29]
    s15 = select_layers(30, 15)
    assert len(s15) == 15 and s15[0] == 0 and s15[-1] == 29 and s15 == sorted(set(s15))
    assert select_layers(30, 6, "ends") == [0, 1, 2, 27, 28, 29]
    assert select_layers(30, 15, "ends") == list(range(7)) + list(range(22, 30))
    assert select_layers(2, 1, "ends") == [0]
    with pytest.raises(InputError):
        select_layers(30, 6, "random")
    assert select_layers(2, 1) == [0]
    assert select_layers(4, 4) == [0, 1, 2, 3]
    with pytest.raises(InputError):
        select_layers(4, 5)
    with pytest.raises(InputError):
        select_layers(4, 0)


def test_recipe_validation_and_names() -> None:
    r = Recipe()
    assert r.variant_names == ["code", "distill-L15", "distill-L6"]
    assert r.to_dict()["student_layers"] == [6, 15]
    assert plan_units(r) == 3 + 200 + 2 * 200 + 3
    assert Recipe(finetune=False).variant_names == ["distill-L15", "distill-L6"]
    for bad in ({"batch_size": 0}, {"student_layers": (0,)}, {"student_layers": (6, 6)}, {"temperature": 0.0},
                {"data_sources": ("web",)}, {"layer_selection": "odd"}, {"finetune_steps": -1}):
        with pytest.raises(InputError):
            Recipe(**bad)
    assert source_prefix("smollm2-135m") == "smollm2-135m"
    assert source_prefix("smollm2") == "smollm2-135m"
    assert source_prefix("/x/y/tiny.gguf") == "tiny"


def test_missing_torch_is_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from tokprobe.variants import build_variants, require_train

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(Error) as ei:
        require_train()
    msg = str(ei.value)
    assert "\n" not in msg and 'pip install "tokprobe[train]"' in msg and "torch" in msg
    with pytest.raises(Error):
        build_variants(Recipe(source="nothing.gguf"))


def test_cli_missing_torch(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tokprobe import variants
    from tokprobe.cli import main

    def boom():
        raise variants.MissingTrainDeps('making variants needs torch: pip install "tokprobe[train]"')

    monkeypatch.setattr(variants, "require_train", boom)
    with pytest.raises(SystemExit) as ei:
        main(["variants", "build", "--finetune-steps", "1"])
    assert ei.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tokprobe[train]" in err[0]


def _local_sdist() -> Path | None:
    from tokprobe.models.sdist import SDIST_FILENAME, find_sdist

    found = find_sdist()
    if found is not None:
        return found
    p = Path("/tmp/sdist") / SDIST_FILENAME
    return p if p.is_file() else None


@pytest.mark.slow
def test_pipeline_smoke(tiny_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    sdist = _local_sdist()
    if sdist is None:
        pytest.skip("no local llama-cpp-python 0.3.36 sdist (run tokprobe vocabs fetch)")
    monkeypatch.setenv("TOKPROBE_CACHE", str(tmp_path / "cache"))
    from tokprobe.models import load, model_info, registered_names, resolve
    from tokprobe.variants import build_variants

    recipe = Recipe(source=str(tiny_model_path), finetune_steps=3, distill_steps=3, student_layers=(1,),
                    batch_size=2, seq_len=32, warmup_steps=1, eval_sequences=2, quant_types=("Q8_0",), seed=0)
    seen: list[tuple[int, int]] = []
    steps: list[tuple[str, str]] = []
    res = build_variants(recipe, threads=1, sdist=sdist, progress=lambda d, t: seen.append((d, t)),
                         log=lambda s, st: steps.append((s, st)))
    prefix = tiny_model_path.stem
    assert [v.name for v in res.variants] == [f"{prefix}-code", f"{prefix}-distill-L1"]
    assert seen and seen[-1][0] == seen[-1][1] == plan_units(recipe)
    assert all(b >= a for (a, _), (b, _) in zip(seen, seen[1:], strict=False))
    assert [s for s, st in steps if st == "done"] == ["base", "data", "reference", "finetune", "distill-L1",
                                                     "gguf-code", "gguf-distill-L1"]
    # names resolve to the F16 files and the quantized ones
    assert resolve(f"{prefix}-code") == res.variants[0].path
    assert resolve(f"{prefix}-distill-L1-Q8_0").is_file()
    assert resolve(f"{prefix}-F16").is_file()
    assert registered_names()[f"{prefix}-code"]["kind"] == "variant"
    # the student really has one layer; both load and give finite logits with the source's tokenizer
    assert model_info(f"{prefix}-distill-L1").to_dict()["n_params"] < model_info(f"{prefix}-code").to_dict()["n_params"]
    src = load(tiny_model_path, n_ctx=64, threads=1)
    ids = src.tokenize("def add(a, b):\n    return a + b\n")
    for name in (f"{prefix}-code", f"{prefix}-distill-L1", f"{prefix}-distill-L1-Q8_0"):
        m = load(name, n_ctx=64, threads=1)
        assert m.n_vocab == src.n_vocab
        assert np.array_equal(m.tokenize("def add(a, b):\n    return a + b\n"), ids)
        assert np.isfinite(m.logits_all(ids)).all()
        m.close()
    # the fine-tune moved the weights: logits differ from the reference
    ref = load(f"{prefix}-F16", n_ctx=64, threads=1)
    code = load(f"{prefix}-code", n_ctx=64, threads=1)
    assert not np.allclose(ref.logits_all(ids), code.logits_all(ids))
    # manifest: recipe, seed, timings, data provenance
    import json

    man = json.loads(res.manifest.read_text())
    assert man["recipe"]["seed"] == 0 and man["recipe"]["student_layers"] == [1]
    assert man["steps"]["distill-L1"]["recipe"]["layers"] == [0]
    assert man["steps"]["finetune"]["train"]["steps"] == 3
    assert man["data"]["n_tokens"] >= (3 * 2 + 2 + 1) * 32
    assert man["versions"]["torch"]
    marker = res.out_dir / "steps" / "finetune.json"
    assert json.loads(marker.read_text())["seed"] == 0

    # re-running reuses every step (nothing retrained)
    res2 = build_variants(recipe, threads=1, sdist=sdist)
    assert {s["status"] for s in res2.steps} == {"reused"}
    assert res2.variants[1].path == res.variants[1].path

    # a changed recipe redoes only what depends on it (the student, its GGUF), not base/data/fine-tune
    res3 = build_variants(Recipe(**{**recipe.to_dict(), "student_layers": (1,), "distill_steps": 2,
                                    "data_sources": tuple(recipe.data_sources),
                                    "quant_types": tuple(recipe.quant_types)}),
                          threads=1, sdist=sdist)
    status = {s["step"]: s["status"] for s in res3.steps}
    assert status["base"] == "reused" and status["finetune"] == "reused" and status["gguf-code"] == "reused"
    assert status["distill-L1"] == "built" and status["gguf-distill-L1"] == "built"
    assert os.path.getsize(res3.variants[1].path) > 0


def test_shipped_study_config_parses() -> None:
    from tokprobe.study.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "variants-study.toml")
    by_tech = {g.technique: g for g in cfg.groups}
    assert set(by_tech) == {"quantization", "distillation", "scaling", "finetuning"}
    assert by_tech["quantization"].ladder_source == "smollm2-135m"
    assert by_tech["distillation"].reference == "smollm2-135m-F16"
    assert by_tech["distillation"].variants == ["smollm2-135m-distill-L15", "smollm2-135m-distill-L6"]
    assert by_tech["finetuning"].variants == ["smollm2-135m-code"]
    assert cfg.vocab.enabled and cfg.coldstart.enabled and cfg.compare.enabled and cfg.codegen.enabled
    assert cfg.compare.corpus == "@pygments"  # held out from the training data
    assert cfg.codegen.prompt_mode == "chat"  # the Instruct model explains in prose given raw prompts
