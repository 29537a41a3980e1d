"""The codegen runner (generation -> sandbox -> pass@k), resume, flips, plots and the CLI,
with a scripted fake model (the real-model test is marked integration)."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from tokprobe import codegen
from tokprobe.codegen import CodegenSettings, Limits, Sandbox, load_problems, run_codegen
from tokprobe.errors import InputError

TASKS = ["HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/7"]


@dataclass
class FakeGeneration:
    text: str
    token_ids: list[int]
    n_prompt_tokens: int
    stop_reason: str = "stop"


@dataclass
class FakeInfo:
    has_chat_template: bool = False
    name: str = "fake"

    def to_dict(self):
        return {"has_chat_template": self.has_chat_template, "name": self.name}


@dataclass
class FakeModel:
    """Answers each problem by a script: 'ok' (canonical), 'wrong', 'syntax', 'loop', or
    'random' (canonical with probability 0.5, seeded by the sample seed)."""

    script: dict[str, str]
    name: str = "fake-model"
    sha256: str = "f" * 64
    path: str = "/nonexistent/fake.gguf"
    threads: int = 1
    n_ctx: int = 2048
    info: FakeInfo = field(default_factory=FakeInfo)
    calls: list = field(default_factory=list)

    def __post_init__(self):
        self._problems = {p.prompt: p for p in load_problems()}

    def generate(self, prompt, *, max_tokens=256, temperature=0.0, top_p=1.0, seed=0, stop=()):
        self.calls.append({"prompt": prompt, "seed": seed, "temperature": temperature, "stop": tuple(stop)})
        problem = next(p for text, p in self._problems.items() if prompt.endswith(text))
        mode = self.script.get(problem.task_id, "ok")
        if mode == "random":
            mode = "ok" if random.Random(seed).random() < 0.5 else "wrong"
        body = {
            "ok": problem.canonical_solution,
            "wrong": "    return None\n",
            "syntax": "    return (\n",
            "loop": "    while True:\n        pass\n",
        }[mode]
        # like a base model: keeps going with another top-level function (the stop sequence cuts it)
        text = body + "\n\ndef unrelated():\n    return 42\n"
        return FakeGeneration(text=text, token_ids=list(range(len(text) // 4)), n_prompt_tokens=len(prompt) // 4)

    def chat_prompt(self, user_text, system=None):
        if not self.info.has_chat_template:
            return None
        return f"<start_of_turn>user\n{user_text}<end_of_turn>\n<start_of_turn>model\n"

    def close(self):
        pass


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(Limits(timeout_s=2, cpu_s=1), jobs=2) as sb:
        yield sb


@pytest.fixture
def problems():
    return load_problems(task_ids=TASKS)


def test_greedy_run(tmp_path, sandbox, problems):
    model = FakeModel({"HumanEval/2": "wrong", "HumanEval/4": "syntax", "HumanEval/7": "loop"})
    res = run_codegen(model, problems, sandbox=sandbox, run_root=tmp_path)
    assert res.problems["task_id"].tolist() == TASKS
    assert res.problems["kind"].tolist() == ["pass", "assertion", "syntax", "timeout"]
    # a bare assert: the failing test line stands in for the empty message
    assert res.problems["message"].iloc[1].startswith("assert candidate(")
    assert res.pass_at(1) == pytest.approx(0.25)
    assert res.pass_at_k["k"].tolist() == [1]
    # the stop sequence cut the extra function
    assert all("unrelated" not in c for c in res.samples["completion"])
    assert (res.samples["stop_found"] == "\ndef").all()
    # greedy: temperature 0, the bigcode stop set passed to the model
    assert all(c["temperature"] == 0 and c["stop"] == codegen.STOP_SEQUENCES for c in model.calls)
    # files
    d = res.run_dir
    assert d.parent.name == model.sha256[:12] and d.parent.parent.name == "codegen"
    for name in ("provenance.json", "generations.jsonl", "results.jsonl", "problems.csv", "pass_at_k.csv",
                 "summary.json", "pass_at_k.png"):
        assert (d / name).is_file(), name
    prov = json.loads((d / "provenance.json").read_text())
    assert prov["models"]["model"]["sha256"] == model.sha256
    assert prov["settings"]["seed"] == 0 and prov["settings"]["max_tokens"] == 512
    assert prov["settings"]["sandbox"]["limits"]["timeout_s"] == 2
    assert "llama_cpp_python_version" in prov and "tokprobe_version" in prov
    lines = [json.loads(x) for x in (d / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and all(r["model_sha256"] == model.sha256 and r["tokprobe_version"] for r in lines)
    summary = json.loads((d / "summary.json").read_text())
    assert summary["pass_at_k"]["pass@1"] == pytest.approx(0.25)
    assert summary["kinds"] == {"pass": 1, "assertion": 1, "exception": 0, "syntax": 1, "timeout": 1, "killed": 0}
    assert (d / "pass_at_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_skips_done_and_reuses_generations(tmp_path, sandbox, problems):
    model = FakeModel({"HumanEval/2": "wrong"})
    first = run_codegen(model, problems[:2], sandbox=sandbox, run_root=tmp_path, plot=False)
    assert len(model.calls) == 2
    # simulate a crash: one more generation cached but not executed, and a torn results line
    d = first.run_dir
    gen_rec = dict(json.loads((d / "generations.jsonl").read_text().splitlines()[0]))
    gen_rec.update(task_id="HumanEval/4", completion=problems[2].canonical_solution)
    with open(d / "generations.jsonl", "a") as fh:
        fh.write(json.dumps(gen_rec) + "\n")
    with open(d / "results.jsonl", "a") as fh:
        fh.write('{"task_id": "HumanEval/7", "sam')
    model2 = FakeModel({"HumanEval/2": "wrong"})
    second = run_codegen(model2, problems, sandbox=sandbox, run_root=tmp_path, plot=False)
    assert second.run_dir == d
    # only HumanEval/7 was generated; HumanEval/4 came from the generation cache
    assert len(model2.calls) == 1 and model2.calls[0]["prompt"] == problems[3].prompt
    assert second.problems["kind"].tolist() == ["pass", "assertion", "pass", "pass"]
    assert len((d / "results.jsonl").read_text().splitlines()) == 4
    # a third run does nothing
    model3 = FakeModel({})
    third = run_codegen(model3, problems, sandbox=sandbox, run_root=tmp_path, plot=False)
    assert model3.calls == [] and third.pass_at(1) == pytest.approx(0.75)


def test_fresh_run_discards_previous_results(tmp_path, sandbox, problems):
    run_codegen(FakeModel({}), problems[:2], sandbox=sandbox, run_root=tmp_path, plot=False)
    model = FakeModel({"HumanEval/0": "wrong"})
    res = run_codegen(model, problems[:2], sandbox=sandbox, run_root=tmp_path, plot=False, resume=False)
    assert len(model.calls) == 2 and res.problems["kind"].tolist() == ["assertion", "pass"]
    assert len((res.run_dir / "results.jsonl").read_text().splitlines()) == 2


def test_flash_attention_is_part_of_the_key(tmp_path, sandbox, problems):
    a = FakeModel({})
    b = FakeModel({})
    b.flash_attn = True
    ra = run_codegen(a, problems[:1], sandbox=sandbox, run_root=tmp_path, plot=False)
    rb = run_codegen(b, problems[:1], sandbox=sandbox, run_root=tmp_path, plot=False)
    assert ra.run_dir != rb.run_dir and rb.provenance["models"]["model"]["flash_attn"] is True


def test_settings_change_the_run_dir(tmp_path, sandbox, problems):
    model = FakeModel({})
    a = run_codegen(model, problems[:1], sandbox=sandbox, run_root=tmp_path, plot=False)
    b = run_codegen(model, problems[:1], CodegenSettings(max_tokens=100), sandbox=sandbox, run_root=tmp_path,
                    plot=False)
    c = run_codegen(FakeModel({}, sha256="e" * 64), problems[:1], sandbox=sandbox, run_root=tmp_path, plot=False)
    assert len({a.run_dir, b.run_dir, c.run_dir}) == 3


def test_sampled_run_pass_at_k(tmp_path, sandbox, problems):
    model = FakeModel({t: "random" for t in TASKS})
    settings = CodegenSettings(n=6, temperature=0.8, top_p=0.95, seed=7)
    res = run_codegen(model, problems, settings, sandbox=sandbox, run_root=tmp_path, plot=False)
    assert res.pass_at_k["k"].tolist() == [1, 2, 3, 4, 5, 6]
    counts = res.problems[["n", "c"]]
    assert (counts["n"] == 6).all()
    for k in range(1, 7):
        expected = sum(codegen.pass_at_k_naive(6, c, k) for c in counts["c"]) / len(counts)
        assert res.pass_at(k) == pytest.approx(expected)
    seeds = [c["seed"] for c in model.calls]
    assert len(set(seeds)) == len(seeds) == 24  # one seed per (task, sample)
    assert seeds[0] == codegen.sample_seed(7, "HumanEval/0", 0)
    # seeds do not depend on order or subset
    model2 = FakeModel({t: "random" for t in TASKS})
    res2 = run_codegen(model2, problems[::-1][:2], settings, sandbox=sandbox, run_root=tmp_path / "other", plot=False)
    assert sorted(c["seed"] for c in model2.calls) == sorted(
        codegen.sample_seed(7, t, i) for t in ("HumanEval/4", "HumanEval/7") for i in range(6))
    pd.testing.assert_frame_equal(
        res2.problems.set_index("task_id").loc[["HumanEval/4", "HumanEval/7"], ["n", "c"]],
        res.problems.set_index("task_id").loc[["HumanEval/4", "HumanEval/7"], ["n", "c"]],
    )


def test_chat_mode_prompt(tmp_path, sandbox, problems):
    model = FakeModel({}, info=FakeInfo(has_chat_template=True, name="fake-instruct"), name="fake-instruct")
    assert codegen.resolve_prompt_mode(model, "auto") == "chat"
    assert codegen.resolve_prompt_mode(FakeModel({}), "auto") == "raw"
    with pytest.raises(InputError):
        codegen.resolve_prompt_mode(FakeModel({}), "chat")
    res = run_codegen(model, problems[:1], sandbox=sandbox, run_root=tmp_path, plot=False)
    prompt = model.calls[0]["prompt"]
    assert prompt.startswith("<start_of_turn>user\nComplete the following Python function")
    assert prompt.endswith("<start_of_turn>model\n```python\n" + problems[0].prompt)
    assert res.samples["prompt_mode"].tolist() == ["chat"] and res.pass_at(1) == 1.0


def test_settings_validation():
    with pytest.raises(InputError):
        CodegenSettings(n=3)  # greedy with several samples
    with pytest.raises(InputError):
        CodegenSettings(top_p=0)
    with pytest.raises(InputError):
        CodegenSettings(prompt_mode="weird")
    with pytest.raises(InputError):
        CodegenSettings(max_tokens=0)


def test_flips_and_divergence_hook(tmp_path, sandbox, problems):
    ref = run_codegen(FakeModel({"HumanEval/7": "wrong"}), problems, sandbox=sandbox, run_root=tmp_path, plot=False)
    var = run_codegen(FakeModel({"HumanEval/0": "wrong", "HumanEval/2": "syntax"}, sha256="1" * 64), problems,
                      sandbox=sandbox, run_root=tmp_path, plot=False)
    table = codegen.flips(ref.problems, var.problems, reference_name="ref", variant_name="q2")
    assert table.set_index("task_id")["flip"].to_dict() == {
        "HumanEval/0": "pass->fail", "HumanEval/2": "pass->fail", "HumanEval/4": "pass->pass",
        "HumanEval/7": "fail->pass"}
    s = codegen.flip_summary(table).iloc[0]
    assert (s["pass->fail"], s["fail->pass"], s["flips"], s["net"]) == (2, 1, 3, -1)

    seen = []

    def divergence(*, task_id, prompt, completion):
        seen.append((task_id, prompt, completion))
        return {"mean_kl": len(completion) / 100.0, "top1_agreement": 0.9}

    out = codegen.attach_divergence(table, ref.samples, problems, divergence, only_flips=True)
    assert len(seen) == 3 and {t for t, _, _ in seen} == {"HumanEval/0", "HumanEval/2", "HumanEval/7"}
    # it is the reference's generated code that is teacher-forced
    by = {t: c for t, _, c in seen}
    assert by["HumanEval/0"] == ref.samples.set_index("task_id").loc["HumanEval/0", "completion"]
    assert out.loc[out.task_id == "HumanEval/4", "div_mean_kl"].isna().all()
    assert out.loc[out.task_id == "HumanEval/0", "div_top1_agreement"].item() == 0.9


def test_load_run(tmp_path, sandbox, problems):
    res = run_codegen(FakeModel({"HumanEval/2": "wrong"}), problems, sandbox=sandbox, run_root=tmp_path, plot=False)
    again = codegen.load_run(res.run_dir)
    pd.testing.assert_frame_equal(again.problems, res.problems)
    assert again.pass_at(1) == res.pass_at(1)


def test_plot_several_models(tmp_path):
    t = pd.DataFrame({"k": [1, 2], "pass_at_k": [0.2, 0.3], "stderr": [0.01, float("nan")], "n_problems": [10, 10]})
    p = codegen.plot_pass_at_k({"a": t, "b": t.assign(pass_at_k=[0.1, 0.15])}, tmp_path / "x.png")
    assert p.read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------------------------- CLI


def test_cli(tmp_path, monkeypatch, capsys):
    import tokprobe.models
    from tokprobe.cli import main

    scripts = {"ref": {"HumanEval/2": "wrong"}, "var": {"HumanEval/0": "syntax"}}

    def fake_load(name, **kw):
        return _Ctx(FakeModel(scripts[name], name=name, sha256=(name * 64)[:64]))

    monkeypatch.setattr(tokprobe.models, "load", fake_load, raising=False)
    with pytest.raises(SystemExit) as exc:
        main(["codegen", "ref", "var", "--task", "0,2", "--run-root", str(tmp_path), "--no-progress",
              "--timeout", "3"])
    assert exc.value.code == 0
    out = capsys.readouterr()
    assert "HumanEval/0" in out.out and "pass@k" in out.out and "flips against ref" in out.out
    assert "ref: pass@1 = 0.5000" in out.err
    with pytest.raises(SystemExit) as exc:
        main(["codegen", "ref", "--task", "0,2", "--run-root", str(tmp_path), "--no-progress", "--timeout", "3",
              "--format", "json"])
    assert exc.value.code == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["model"] == "ref" and rows[0]["k"] == 1 and rows[0]["pass_at_k"] == 0.5
    with pytest.raises(SystemExit) as exc:
        main(["codegen", "ref", "--task", "0,2", "--run-root", str(tmp_path), "--no-progress", "--timeout", "3",
              "--show", "problems", "--format", "csv", "--out", str(tmp_path / "p.csv")])
    assert exc.value.code == 0
    assert pd.read_csv(tmp_path / "p.csv")["task_id"].tolist() == ["HumanEval/0", "HumanEval/2"]
    capsys.readouterr()
    # user errors: exit 2 with one line
    for argv in (["codegen", "ref", "-n", "3"], ["codegen", "ref", "--task", "HumanEval/999"],
                 ["codegen", "ref", "--show", "flips", "--task", "0", "--run-root", str(tmp_path)]):
        with pytest.raises(SystemExit) as exc:
            main(argv + ["--no-progress"])
        assert exc.value.code == 2, argv
        assert capsys.readouterr().err.strip().startswith("error:")


class _Ctx:
    def __init__(self, model):
        self.model = model

    def __enter__(self):
        return self.model

    def __exit__(self, *a):
        return False


# ------------------------------------------------------------------------------- integration


@pytest.mark.integration
def test_real_model_two_problems(tmp_path):
    tokprobe = pytest.importorskip("tokprobe")
    try:
        model = tokprobe.load("gemma3-270m", threads=2)
    except Exception as exc:
        pytest.skip(f"default model not available: {exc}")
    problems = load_problems(limit=2)
    with model, Sandbox(Limits(timeout_s=10), jobs=1) as sb:
        res = run_codegen(model, problems, CodegenSettings(max_tokens=128), sandbox=sb, run_root=tmp_path)
    assert len(res.samples) == 2
    assert set(res.samples["kind"]) <= set(codegen.KINDS)
    assert (res.samples["n_tokens"] > 0).all()
    assert res.provenance["models"]["model"]["sha256"] == model.sha256
    assert 0.0 <= res.pass_at(1) <= 1.0
    assert all(s not in c for c in res.samples["completion"] for s in codegen.STOP_SEQUENCES)
    # deterministic greedy: a second run in a fresh dir generates the same completions
    with tokprobe.load("gemma3-270m", threads=2) as m2, Sandbox(Limits(timeout_s=10), jobs=1) as sb:
        res2 = run_codegen(m2, problems, CodegenSettings(max_tokens=128), sandbox=sb, run_root=tmp_path / "b")
    assert res2.samples["completion"].tolist() == res.samples["completion"].tolist()
    assert os.path.exists(Path(res.run_dir) / "pass_at_k.png")
