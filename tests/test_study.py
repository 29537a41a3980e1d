"""A whole study on tiny models, end to end: report files, numbers, resume, bad configs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tokprobe import io
from tokprobe.errors import ConfigError
from tokprobe.report.tables import with_interval
from tokprobe.study import load_config, parse_config, run_study

CODE = {
    "a.py": "def add(a, b):\n    return a + b\n\n\nclass Box:\n    def __init__(self, x):\n        self.x = x\n" * 6,
    "b.js": "function add(a, b) {\n  // sum\n  return a + b;\n}\nconst x = add(1, 2);\n" * 6,
}


@pytest.fixture(scope="module")
def study_inputs(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokprobe.models import quantize

    d = tmp_path_factory.mktemp("study-inputs")
    q8 = quantize(tiny_model_path, "Q8_0", d / "tiny-Q8_0.gguf")
    q4 = quantize(tiny_model_path, "Q4_K_M", d / "tiny-Q4_K_M.gguf")
    corpus = d / "corpus"
    corpus.mkdir()
    for name, text in CODE.items():
        (corpus / name).write_text(text)
    cfg = d / "study.toml"
    cfg.write_text(textwrap.dedent(f"""
        [study]
        name = "tiny"
        threads = 2

        [[groups]]
        technique = "quantization"
        name = "tiny ladder"
        reference = "{tiny_model_path}"
        variants = ["{q8.name}", "{q4.name}"]

        [vocab]
        include_fetched = false

        [compare]
        corpus = "corpus"
        n_ctx = 64
        max_tokens = 256

        [codegen]
        limit = 2
        max_tokens = 8
        models = "ends"
    """))
    return cfg


def test_study_end_to_end_and_resume(study_inputs: Path, tmp_path: Path):
    cfg = load_config(study_inputs)
    run = tmp_path / "run"
    res = run_study(cfg, run)
    assert {s.name for s in res.steps} == {"models", "vocab", "coldstart", "compare", "complete", "codegen"}
    assert not any(s.skipped for s in res.steps)
    html = (run / "report.html").read_text()
    md = (run / "report.md").read_text()
    assert html.startswith("<!doctype html>") and "data:image/png;base64," in html
    # The report carries the numbers of the stored results.
    summary = io.read_frame(run / "steps" / "compare" / "group0" / "summary.csv")
    assert len(summary) == 2
    for r in summary.to_dict(orient="records"):  # each mean with its interval, files resampled
        assert with_interval(r["kl_mean"], r["kl_mean_lo"], r["kl_mean_hi"]) in md
    assert (run / "explorer.html").is_file() and "(explorer.html)" in md
    cs = io.read_frame(run / "steps" / "coldstart" / "group0" / "summary.parquet")
    r0 = cs.iloc[0]
    assert with_interval(r0["pkp"], r0["pkp_lo"], r0["pkp_hi"]) in md
    # The HumanEval gate: a tiny reference passes nothing, so the variants were not run and the
    # report says why instead of showing a table of zeros.
    passk = io.read_frame(run / "steps" / "codegen" / "pass_at_k.csv")
    assert set(passk["model"]) == {cfg.groups[0].reference}
    gate = io.read_json(run / "steps" / "codegen" / "gate.json")
    assert gate["min_reference_passes"] == 3
    assert [(g["n_passed"], g["n_problems"], g["variants_run"]) for g in gate["groups"]] == [(0, 2, False)]
    said = f"HumanEval cannot separate these variants: the reference `{Path(cfg.groups[0].reference).stem}` passes 0/2"
    section = md.split("## Code generation: HumanEval", 1)[1].split("\n## ", 1)[0]
    assert said in section and "| model |" not in section
    assert said in md.split("## Guidelines", 1)[1].split("\n## ", 1)[0]
    assert "## Guidelines" in md and "Smallest variant" in md
    for png in ("size_vs_kl_0.png", "kl_by_class_0.png"):
        assert (run / "figures" / png).stat().st_size > 1000
    assert not (run / "figures" / "pass_at_1.png").exists()

    # A re-run skips every finished step and leaves the results as they were.
    before = (run / "steps" / "compare" / "group0" / "summary.csv").read_bytes()
    again = run_study(cfg, run)
    assert all(s.skipped for s in again.steps)
    assert (run / "steps" / "compare" / "group0" / "summary.csv").read_bytes() == before

    # `tokprobe report` re-renders from stored results only.
    md = (run / "report.md").read_text()
    (run / "report.md").unlink()
    out = subprocess.run([sys.executable, "-m", "tokprobe", "report", str(run)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (run / "report.md").read_text() == md


def test_changed_settings_rerun_only_that_step(study_inputs: Path, tmp_path: Path):
    cfg = load_config(study_inputs)
    cfg.codegen.enabled = False
    cfg.compare.enabled = False
    cfg.vocab.enabled = False
    cfg.complete.enabled = False
    run = tmp_path / "run"
    run_study(cfg, run)
    cfg.coldstart.top_k = 5
    res = run_study(cfg, run)
    skipped = {s.name: s.skipped for s in res.steps}
    assert skipped == {"models": True, "coldstart": False}


def test_codegen_gate_off_runs_the_variants_and_keys_the_step(study_inputs: Path, tmp_path: Path):
    cfg = load_config(study_inputs)
    cfg.codegen.limit = 1
    cfg.codegen.min_reference_passes = 0  # no gate: the variants run as they did before it
    run = tmp_path / "run"
    first = run_study(cfg, run, steps=("models", "codegen"))
    passk = io.read_frame(run / "steps" / "codegen" / "pass_at_k.csv")
    assert list(dict.fromkeys(passk["model"])) == [cfg.groups[0].reference, cfg.groups[0].variants[-1]]
    gate = io.read_json(run / "steps" / "codegen" / "gate.json")
    assert [g["variants_run"] for g in gate["groups"]] == [True]
    md = (run / "report.md").read_text()
    assert "cannot separate" not in md and "**pass@k**" in md
    assert (run / "figures" / "pass_at_1.png").is_file()
    # The gate setting is part of the step's key: turning it on re-runs codegen (and skips the variants).
    cfg.codegen.min_reference_passes = 1
    again = run_study(cfg, run, steps=("models", "codegen"))
    assert again.steps[-1].key != first.steps[-1].key and not again.steps[-1].skipped
    passk = io.read_frame(run / "steps" / "codegen" / "pass_at_k.csv")
    assert set(passk["model"]) == {cfg.groups[0].reference}
    assert "HumanEval cannot separate these variants" in (run / "report.md").read_text()


def test_full_humaneval_means_all_problems_and_no_gate() -> None:
    from tokprobe.study import study_config

    cfg = study_config(quick=True)
    assert (cfg.codegen.limit, cfg.codegen.min_reference_passes) == (3, 3)
    cfg = study_config(quick=True, full_humaneval=True)
    assert (cfg.codegen.limit, cfg.codegen.min_reference_passes) == (0, 0)


@pytest.mark.parametrize(
    "data, key",
    [
        ({"groups": [{"technique": "pruning", "reference": "a", "variants": ["b"]}]}, "groups[0].technique"),
        ({"groups": [{"technique": "quantization", "variants": ["b"]}]}, "groups[0].reference"),
        ({"groups": [{"technique": "quantization", "reference": "a", "variants": []}]}, "groups[0].variants"),
        ({"groups": []}, "groups"),
        ({"groups": [{"technique": "scaling", "reference": "a", "variants": ["b"]}], "compare": {"n_ctx": "x"}},
         "compare.n_ctx"),
        ({"groups": [{"technique": "scaling", "reference": "a", "variants": ["b"]}], "compare": {"bogus": 1}},
         "compare.bogus"),
        ({"groups": [{"technique": "scaling", "reference": "a", "variants": ["b"]}], "codegen": {"limit": -1}},
         "codegen.limit"),
        ({"groups": [{"technique": "scaling", "reference": "a", "variants": ["b"]}],
          "codegen": {"prompt_mode": "instruct"}}, "codegen.prompt_mode"),
        ({"groups": [{"technique": "scaling", "reference": "a", "variants": ["b"]}], "extra": {}}, "extra"),
    ],
)
def test_bad_config_names_the_key(data: dict, key: str):
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert str(err.value).startswith(key)


def test_bad_config_cli_one_line(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[groups]]\ntechnique = "quantization"\nreference = "x"\nvariants = ["y"]\n[compare]\nmode = "fast"\n'
    )
    out = subprocess.run([sys.executable, "-m", "tokprobe", "study", str(bad)], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: compare.mode")
    assert len(out.stderr.strip().splitlines()) == 1
    notoml = tmp_path / "no.toml"
    notoml.write_text("[[groups]\n")
    out = subprocess.run([sys.executable, "-m", "tokprobe", "study", str(notoml)], capture_output=True, text=True)
    assert out.returncode == 2 and "not valid TOML" in out.stderr and "Traceback" not in out.stderr


def test_guidelines_say_no_variant_once_and_name_their_group() -> None:
    import pandas as pd

    from tokprobe.report import guidelines as G
    from tokprobe.report.build import _tagged
    from tokprobe.report.document import _inline

    v = pd.DataFrame({"model": ["a", "b"], "label": ["a", "b"], "file_size": [2**20, 2**21],
                      "bits_per_weight": [4.0, 8.0], "kl_mean": [0.5, 0.2], "kl_err": [0.01, 0.01]})
    assert G.size_guidelines(v, None, "ref") == ["No variant stays under mean KL 0.1 nats/token."]
    v.loc[1, "kl_mean"] = 0.03
    lines = G.size_guidelines(v, None, "ref")
    assert lines[0] == "No variant stays under mean KL 0.01 nats/token."
    assert lines[1].startswith("Smallest variant with mean KL < 0.05 (and 0.1) nats/token: `b`")
    one = {"groups": [{"name": "ladder"}]}
    two = {"groups": [{"name": "ladder"}, {"name": "students"}]}
    assert _tagged(one, 0, ["x"]) == ["x"]
    assert _tagged(two, 1, ["x"]) == ["*students*: x"]
    assert _inline("*students*: `a*b`") == "<em>students</em>: <code>a*b</code>"


def test_coldstart_guidelines_flag_shifts_both_ways() -> None:
    import pandas as pd

    from tokprobe.report import guidelines as G

    s = pd.DataFrame({"model": ["ref", "ft", "q"], "pkp": [0.066, 0.060, 0.030], "stp": [0.51, 0.10, 0.50]})
    assert G.coldstart_guidelines(s) == [  # no intervals: measurements only, never findings
        "`ft` at the cold-start position, measured (one position, no interval, not a tested finding): "
        "STP 0.510 → 0.100 (0.20x).",
        "`q` at the cold-start position, measured (one position, no interval, not a tested finding): "
        "PKP 0.066 → 0.030 (0.45x).",
    ]
    pw = pd.DataFrame({"model": ["ft", "q"], "pkp_ratio": [0.91, 0.45], "pkp_ratio_lo": [0.8, 0.40],
                       "pkp_ratio_hi": [1.0, 0.62]})
    lines = G.coldstart_guidelines(s, pw)
    assert lines[1] == ("`q` moves cold-start keyword mass: PKP 0.066 → 0.030 (0.45x [0.40, 0.62], keyword set "
                        "resampled).")
    pw.loc[1, "pkp_ratio_hi"] = 0.7  # the interval reaches into the band: no finding, and no PKP line
    assert [x for x in G.coldstart_guidelines(s, pw) if "PKP" in x] == []
    same = s.iloc[[0, 0]].reset_index(drop=True)
    assert G.coldstart_guidelines(same)[0].startswith("Cold start: no variant moves PKP (95 % interval) or STP")
