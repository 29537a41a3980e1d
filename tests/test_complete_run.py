"""Completion runs end to end: tiny models on a hand-made corpus, bad input, the CLI, and the real model."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tokprobe.complete import FirstTokens, GrammarError, ProbeSettings, complete, plan_only
from tokprobe.complete import syntax as syntax_module
from tokprobe.errors import EmptyInputError, InputError
from tokprobe.models import Model, load

FILES = {
    "m.py": "import os\n\n\ndef add(a, b):\n    total = a + b\n    return total\n\n\ndef sub(a, b):\n"
            "    diff = a - b\n    return diff\n",
    "m.c": "int add(int a, int b) {\n  int total = a + b;\n  return total;\n}\n\nint sub(int a, int b) {\n"
           "  return a - b;\n}\n",
    "m.go": "package m\n\nfunc Add(a int, b int) int {\n\ttotal := a + b\n\treturn total\n}\n",
    "m.rs": "fn add(a: i32, b: i32) -> i32 {\n    let total = a + b;\n    total\n}\n",
    "m.js": "function add(a, b) {\n  const total = a + b;\n  return total;\n}\nmodule.exports = { add };\n",
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for name, text in FILES.items():
        (root / name).write_text(text)
    return root


def _settings(**kw: Any) -> ProbeSettings:
    base: dict[str, Any] = {"probes_per_language": 3, "max_tokens": 6, "n_boot": 50, "threads": 2}
    return ProbeSettings(**{**base, **kw})


def test_two_tiny_models(corpus: Path, tiny_model_path: Path, tiny_model_path_b: Path) -> None:
    seen: list[tuple[int, int]] = []
    res = complete(tiny_model_path, [tiny_model_path_b], corpus=str(corpus), settings=_settings(),
                   progress=lambda d, t: seen.append((d, t)))
    p = res.probes
    assert set(p["language"]) == {"python", "c", "go", "rust", "javascript"}
    n = plan_only(str(corpus), _settings()).n_probes
    assert n == 14  # 3 per language, but the rust file has only 2 lines with code before them
    assert len(p) == 2 * n and seen[-1] == (2 * n, 2 * n)
    for col in ("exact", "edit_sim", "valid"):
        assert p[col].between(0, 1).all()
    assert (p["errors_before"] == 0).all()  # the hand-made files parse
    py = p[p["language"] == "python"]
    assert py["ast_ok"].notna().all()
    assert (py.loc[py["valid"] == 1, "ast_ok"] == 1).all()  # a valid Python completion also passes ast
    # the truth is the rest of the line from where the completion starts
    for r in p.itertuples():
        text = FILES[r.file]
        assert text.encode()[r.start:].decode().startswith(r.truth) and "\n" not in r.truth.strip("\n ")
    ref = p[p["model"] == res.models[0]]
    assert (ref["kl_first"] == 0).all()
    var = p[p["model"] == res.models[1]]
    assert var["kl_first"].notna().all() and (var["kl_first"] >= 0).all()
    s = res.summary()
    assert set(s["language"]) == {"all", "python", "c", "go", "rust", "javascript"}
    assert {"exact_lo", "exact_hi", "valid_lo", "edit_sim_hi"} <= set(s.columns)
    py = s[s["language"] == "python"]
    assert py["ast_ok"].between(0, 1).all() and s.loc[s["language"] == "go", "ast_ok"].isna().all()
    pr = res.paired()
    assert len(pr) == 6 and pr["loses"].dtype == bool
    assert len(res.flips()) == 6
    c = res.costs.set_index("model")
    assert (c["n_probes"] == n).all() and (c["n_prefill"] > 0).all()


def test_block_mode(corpus: Path, tiny_model_path: Path) -> None:
    res = complete(tiny_model_path, corpus=str(corpus), settings=_settings(mode="block", max_tokens=12))
    p = res.probes
    assert len(p) and (p["mode"] == "block").all()
    multi = p[p["truth"].str.contains("\n")]
    assert len(multi)  # a block of several lines, e.g. the body of add()
    assert p["valid"].notna().all() and (p["n_generated"] <= 12).all()


def test_same_model_twice_agrees_with_itself(corpus: Path, tiny_model_path: Path) -> None:
    res = complete(tiny_model_path, [tiny_model_path], corpus=str(corpus), settings=_settings())
    pr = res.paired()
    assert (pr["d_exact"] == 0).all() and (pr["d_valid"] == 0).all()
    var = res.probes[res.probes["model"] == res.models[1]]
    assert var["first_same"].all() and np.allclose(var["kl_first"], 0, atol=1e-6)


def test_long_prompts_are_cut_from_the_left_and_recorded(corpus: Path, tiny_model_path: Path) -> None:
    res = complete(tiny_model_path, corpus=str(corpus), settings=_settings(context=8))
    p = res.probes
    assert (p["n_prompt"] <= 8).all()
    assert (p["cut_left"] > 0).any()
    assert any("cut from the left" in n for n in res.notes)


def test_language_without_probe_positions(tmp_path: Path, corpus: Path) -> None:
    (corpus / "only.rb").write_text("# nothing but a comment\n\n")
    plan = plan_only(str(corpus), _settings())
    assert any(n.startswith("ruby: no line probe positions") for n in plan.notes)
    assert "ruby" not in {f.language for f in plan.files}
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.py").write_text("# a comment\n")
    with pytest.raises(EmptyInputError, match="no line probe positions"):
        complete("unused-model-name", corpus=str(empty), settings=_settings())


def test_a_grammar_that_fails_to_load(corpus: Path, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = syntax_module.parser

    def broken(grammar: str) -> Any:
        if grammar == "go":
            raise GrammarError("the tree-sitter grammar 'go' failed to load: simulated")
        return real(grammar)

    monkeypatch.setattr(syntax_module, "parser", broken)
    res = complete(tiny_model_path, corpus=str(corpus), settings=_settings(probes_per_language=1))
    assert any(n.startswith("go: validity not measured") for n in res.notes)
    go = res.probes[res.probes["language"] == "go"]
    assert len(go) == 1 and math.isnan(go["valid"].iloc[0])
    assert res.probes.loc[res.probes["language"] != "go", "valid"].notna().all()


class _EosOnly:
    """A loaded model whose every generated token ends generation (a model that emits only EOS)."""

    def __init__(self, model: Model) -> None:
        self._m = model
        self.vocab = _EosVocab(model.vocab)
        self.name = "eos-only"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._m, name)


class _EosVocab:
    def __init__(self, vocab: Any) -> None:
        self._v = vocab

    def is_eog(self, token: int) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._v, name)


def test_a_model_that_emits_only_eos(corpus: Path, tiny_model_path: Path) -> None:
    m = load(tiny_model_path, n_ctx=256, threads=2)
    try:
        res = complete(_EosOnly(m), corpus=str(corpus), settings=_settings(probes_per_language=1))
    finally:
        m.close()
    p = res.probes
    assert p["empty"].all() and (p["stop_reason"] == "eos").all() and (p["exact"] == 0).all()
    assert any("emits only EOS or whitespace" in n for n in res.notes)


def test_bad_settings() -> None:
    with pytest.raises(InputError, match="unknown completion mode"):
        ProbeSettings(mode="word").check()
    with pytest.raises(InputError, match="probes_per_language"):
        ProbeSettings(probes_per_language=0).check()


def test_cli_complete(corpus: Path, tiny_model_path: Path, tiny_model_path_b: Path, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    from tokprobe.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["complete", str(tiny_model_path), str(tiny_model_path_b), "--corpus", str(corpus),
              "--probes-per-language", "2", "--max-tokens", "4", "--format", "json", "--no-progress",
              "--out-dir", str(tmp_path / "run")])
    assert exc.value.code == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["language"] for r in rows} >= {"all", "python"}
    assert (tmp_path / "run" / "probes.parquet").is_file() and (tmp_path / "run" / "complete.png").is_file()


def test_cli_bad_input_is_one_line(corpus: Path, tiny_model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tokprobe.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["complete", str(tiny_model_path), "--corpus", str(corpus), "--mode", "word"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "mode" in err[0]


@pytest.mark.integration
def test_real_model_few_probes(default_model_path: Path) -> None:
    res = complete(default_model_path, settings=ProbeSettings(probes_per_language=1, threads=2, n_boot=50))
    p = res.probes
    assert p["language"].nunique() == 12 and len(p) == 12
    assert not p["empty"].all()
    assert (p["stop_reason"] != "length").sum() >= 6  # most lines end within the budget
    assert p["valid"].notna().all()


def test_study_step_and_report(corpus: Path, tiny_model_path: Path, tiny_model_path_b: Path, tmp_path: Path) -> None:
    from tokprobe import io
    from tokprobe.errors import ConfigError
    from tokprobe.study import parse_config, run_study

    data: dict[str, Any] = {
        "study": {"name": "tiny", "threads": 2},
        "groups": [{"technique": "finetuning", "reference": str(tiny_model_path),
                    "variants": [str(tiny_model_path_b)]}],
        "compare": {"corpus": str(corpus)},
        "complete": {"probes_per_language": 2, "max_tokens": 4},
    }
    cfg = parse_config(data)
    run = tmp_path / "run"
    res = run_study(cfg, run, steps=("models", "complete"))
    assert [s.name for s in res.steps] == ["models", "complete"]
    g = run / "steps" / "complete" / "group0"
    assert (g / "complete.png").is_file() and (g / "paired.csv").is_file()
    assert len(io.read_frame(g / "probes.parquet")) == 2 * 10
    md = (run / "report.md").read_text()
    assert "Completion probes (" in md and "Completion probes: " in md  # the section and its guideline
    again = run_study(cfg, run, steps=("models", "complete"))
    assert again.steps[-1].skipped
    with pytest.raises(ConfigError, match="complete.mode"):
        parse_config({**data, "complete": {"mode": "word"}})
    with pytest.raises(ConfigError, match="complete.probes_per_language"):
        parse_config({**data, "complete": {"probes_per_language": 0}})


def test_first_tokens_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    first = FirstTokens()
    for key in [(0, 3), (2, 1), (1, 7)]:
        first.keep(key, rng.normal(size=400).astype(np.float32))
    first.save(tmp_path / "first.npz")
    back = FirstTokens.load(tmp_path / "first.npz")
    assert sorted(back.ref) == sorted(first.ref)
    logits = rng.normal(size=400).astype(np.float32)
    for key in first.ref:
        assert back.kl(key, logits) == first.kl(key, logits)
