"""Assemble a study report from the files a study run wrote (no model is loaded here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from .. import io
from ..bootstrap import MIN_FILES, MIN_TOKENS
from ..errors import FileFormatError
from ..explore import EXPLORER_FILE
from . import guidelines as G
from . import plots as P
from .completion import completion_section
from .document import Document, Section
from .rundir import group_dirs, read_table
from .summary import summary_section
from .tables import interval_view


def display_name(model: str) -> str:
    """A GGUF path shows as its file stem; model names stay as they are."""
    return Path(model).stem if str(model).endswith(".gguf") else str(model)


def build_document(run_dir: str | Path) -> Document:
    run = Path(run_dir)
    if not (run / "steps" / "models" / "models.csv").is_file():
        raise FileFormatError(f"{run}: not a study run directory (no steps/models/models.csv)")
    config = io.read_json(run / "config.json") if (run / "config.json").is_file() else {}
    meta = io.read_json(run / "run.json") if (run / "run.json").is_file() else {}
    models = io.read_frame(run / "steps" / "models" / "models.csv")
    figs = run / "figures"
    doc = Document(
        title=f"tokprobe study: {config.get('name', run.name)}",
        subtitle=(f"tokprobe {meta.get('provenance', {}).get('tokprobe_version', '?')}, llama-cpp-python "
                  f"{meta.get('provenance', {}).get('llama_cpp_python_version', '?')}, threads "
                  f"{meta.get('threads', '?')}, seed {meta.get('seed', '?')}, config: {config.get('source', '?')}"),
    )
    gate = _gate(run / "steps" / "codegen")
    passk = read_table(run / "steps" / "codegen" / "pass_at_k.csv")
    if passk is not None:  # a gated group's reference alone is no comparison: said in words instead
        passk = passk[~passk["model"].isin(_gated_references(gate))].reset_index(drop=True)
    p1 = passk[passk["k"] == 1].reset_index(drop=True) if passk is not None else None
    first = summary_section(run, config, models, p1)
    if first is not None:
        doc.add(first)
    guide = doc.add(Section("Guidelines", text=["Derived from the measurements below; each states its numbers."]))
    _add_models(doc, models)
    for i, g in enumerate(group_dirs(run / "steps" / "compare")):
        _add_compare_group(doc, guide, config, i, g, models, p1, figs)
    for i, g in enumerate(group_dirs(run / "steps" / "coldstart")):
        _add_coldstart_group(doc, guide, config, i, g)
    for i, g in enumerate(group_dirs(run / "steps" / "complete")):
        done = completion_section(g, _group_name(config, i))
        if done is not None:
            doc.add(done[0])
            guide.bullets += _tagged(config, i, done[1])
    _add_vocab(doc, run / "steps" / "vocab")
    if (passk is not None and p1 is not None and len(passk)) or G.codegen_gate_lines(gate):
        _add_codegen(doc, guide, config, gate, passk, p1, figs)
    _add_timings(doc, meta)
    if not guide.bullets:
        guide.text.append("No analysis produced numbers to derive guidelines from.")
    return doc


def _add_models(doc: Document, models: pd.DataFrame) -> None:
    m = models[["model", "technique", "role", "file_type", "bits_per_weight", "file_size", "n_params", "sha256"]].copy()
    m["file_size"] = (m["file_size"] / 2**20).round(1)
    m = m.rename(columns={"file_size": "MiB"})
    m["sha256"] = m["sha256"].str.slice(0, 12)
    m["model"] = m["model"].map(display_name)
    doc.add(Section("Models", tables=[("", m)]))


def _add_compare_group(doc: Document, guide: Section, config: dict[str, Any], i: int, g: Path,
                       models: pd.DataFrame, p1: pd.DataFrame | None, figs: Path) -> None:
    summary = read_table(g / "summary.csv")
    if summary is None or not len(summary):
        return
    sec = doc.add(Section(f"Divergence on code ({_group_name(config, i)})"))
    if (g.parents[2] / EXPLORER_FILE).is_file():
        sec.links.append(("Open the per-token explorer: where in the code each variant stops agreeing "
                          "(explorer.html)", EXPLORER_FILE))
    ref = str(summary["reference"].iloc[0])
    rel = g.relative_to(g.parents[2]) if len(g.parents) > 2 else g
    sec.text.append(f"Each cell: the mean over scored tokens [its 95 % interval, files resampled]; `evidence` says "
                    f"\"too few\" for a group under {MIN_TOKENS} tokens or {MIN_FILES} files, never ranked. Every "
                    f"statistic, with its `_lo`/`_hi` bounds, is in `{rel.as_posix()}/summary.csv` and "
                    f"`breakdown-*.csv`.")
    view = interval_view(summary, ["variant"])
    for c in ("kl_p99", "kl_max"):
        if c in summary.columns:
            view[c.replace("kl_", "KL ")] = summary[c].map(lambda x: f"{x:.3g}").to_numpy()
    sec.tables.append(("Per variant (KL in nats/token)", view))
    size = models.drop_duplicates("model").set_index("model")
    names = io.read_json(g / "models.json") if (g / "models.json").is_file() else {}
    v = summary.assign(model=names.get("variants", list(summary["variant"])), label=summary["variant"])
    ref = names.get("reference", ref)
    v["file_size"] = v["model"].map(size["file_size"])
    v["bits_per_weight"] = v["model"].map(size["bits_per_weight"])
    if v["bits_per_weight"].notna().any():
        sec.images.append(("Bits per weight vs mean KL, with the Pareto front",
                           P.plot_size_vs_kl(v, figs / f"size_vs_kl_{i}.png")))
        guide.bullets += _tagged(config, i, G.size_guidelines(v.dropna(subset=["file_size"]), p1, ref))
        guide.bullets += _tagged(config, i, G.ordering_guidelines(v, read_table(g / "pairwise-kl.csv"), ref))
    for category, caption, title, table in (
            ("class", "Mean KL by class of the target token", "KL by token class", "By class of the target token"),
            ("language", "Mean KL by language", "KL by language", "By language")):
        by = read_table(g / f"breakdown-{category}.csv")
        if by is None or not len(by):
            continue
        sec.images.append((caption, P.plot_grouped_bars(
            by, category, "kl_mean", "variant", figs / f"kl_by_{category}_{i}.png", title, "mean KL (nats/token)",
            log=True)))
        sec.tables.append((table, interval_view(by, ["variant", category])))
        if category == "class":
            guide.bullets += _tagged(config, i, G.class_guidelines(by))
        else:
            guide.bullets += _tagged(config, i, G.group_guidelines(by, "language", "language"))
    by_ent = read_table(g / "breakdown-entropy.csv")
    if by_ent is not None and len(by_ent):
        sec.tables.append(("By reference entropy (nats)", interval_view(by_ent, ["variant", "entropy_ref"])))


def _add_coldstart_group(doc: Document, guide: Section, config: dict[str, Any], i: int, g: Path) -> None:
    summary = read_table(g / "summary.parquet")
    if summary is None:
        return
    sec = doc.add(Section(f"Cold start ({_group_name(config, i)})"))
    cols = [c for c in ["model", "context", "pkp", "kap", "stp", "nlp", "indent", "entropy", "kl_to_ref",
                        "kl_from_ref", "js_to_ref", "spearman_keywords", "top1_text"] if c in summary.columns]
    summary = summary.assign(model=summary["model"].map(display_name))
    view = summary[cols].copy()
    for c in ("pkp", "kap"):
        if f"{c}_lo" in summary.columns:
            view[c] = interval_view(summary, [], [(c, c)])[c].to_numpy()
    sec.text.append("PKP and KAP with their 95 % interval (keyword set resampled); STP, NLP and the rest are masses "
                    "at the one cold-start position, with no sampling unit and no interval.")
    sec.tables.append(("PKP / KAP / STP / NLP per model", view))
    for png, cap in (("coldstart_metrics.png", "PKP, STP and NLP per model"),
                     ("coldstart_shifts.png", "Largest top-token shifts against the reference")):
        if (g / png).is_file():
            sec.images.append((cap, g / png))
    guide.bullets += _tagged(config, i, G.coldstart_guidelines(summary, read_table(g / "pairwise.parquet")))


def _add_vocab(doc: Document, vdir: Path) -> None:
    cov = read_table(vdir / "coverage_table.csv")
    if cov is None:
        return
    sec = doc.add(Section("Vocabulary: keyword coverage"))
    if (vdir / "coverage.png").is_file():
        sec.images.append(("Keyword coverage (languages x tokenizers)", vdir / "coverage.png"))
    sec.tables.append(("Share of keywords that are one token, per form", cov))
    comp = read_table(vdir / "composition.parquet")
    if comp is not None:
        sec.tables.append(("Vocabulary composition by token class", comp))
    _add_vocab_sources(sec, vdir)


def _add_vocab_sources(sec: Section, vdir: Path) -> None:
    """Which tokenizers were analysed (one base vocabulary across formats) and which could not be had, and why."""
    info = read_table(vdir / "tokenizers.parquet")
    if info is not None and "vocabulary" in info.columns:
        cols = [c for c in ("tokenizer", "format", "type", "n_base", "n_added", "vocabulary") if c in info.columns]
        sec.tables.append(("Tokenizers analysed (vocabulary: the first with the same base vocabulary bytes)",
                           info[cols]))
    missing = read_table(vdir / "unavailable.csv")
    if missing is not None and len(missing):
        sec.text.append(f"{len(missing)} tokenizer(s) could not be had and are not analysed:")
        sec.tables.append(("Tokenizers not analysed, and why", missing))


def _gate(codegen_dir: Path) -> dict[str, Any]:
    """The codegen step's gate.json (empty when the step did not run or predates the gate)."""
    path = codegen_dir / "gate.json"
    gate: dict[str, Any] = io.read_json(path) if path.is_file() else {}
    return gate


def _gated_references(gate: dict[str, Any]) -> set[str]:
    return {str(r["reference"]) for r in gate.get("groups") or [] if not r.get("variants_run", True)}


def _add_codegen(doc: Document, guide: Section, config: dict[str, Any], gate: dict[str, Any],
                 passk: pd.DataFrame | None, p1: pd.DataFrame | None, figs: Path) -> None:
    sec = doc.add(Section("Code generation: HumanEval"))
    shown_gate = {**gate, "groups": [{**r, "reference": display_name(r["reference"])}
                                     for r in gate.get("groups") or []]}
    for i, line in G.codegen_gate_lines(shown_gate):
        sec.text += _tagged(config, i, [line])
        guide.bullets += _tagged(config, i, [line])
    if passk is None or p1 is None or not len(passk):
        return
    shown = p1.assign(model=p1["model"].map(display_name))
    sec.images.append(("pass@1 per model", P.plot_pass_at_1(shown, figs / "pass_at_1.png")))
    sec.tables.append(("pass@k", passk.assign(model=passk["model"].map(display_name))))


def _add_timings(doc: Document, meta: dict[str, Any]) -> None:
    steps = pd.DataFrame(meta.get("steps", []))
    if len(steps):
        steps["seconds"] = steps["seconds"].round(1)
        doc.add(Section("Run", text=[f"Total {meta.get('total_seconds', 0):.0f} s on {meta.get('platform', '?')}; "
                                     "skipped steps were up to date from an earlier run."],
                        tables=[("Time of each step", steps)]))


def _tagged(config: dict[str, Any], i: int, bullets: list[str]) -> list[str]:
    """With several groups, each guideline names the group it was measured in."""
    if len(config.get("groups") or []) < 2:
        return bullets
    return [f"*{_group_name(config, i)}*: {b}" for b in bullets]


def _group_name(config: dict[str, Any], i: int) -> str:
    groups = config.get("groups") or []
    return groups[i].get("name", f"group {i}") if i < len(groups) else f"group {i}"
