"""``tokprobe compare``: token-level divergence of variants from a reference (docs/method.md §3)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.console import Console
from rich.text import Text

from .. import io
from ..compare import BREAKDOWNS, CompareResult, compare
from ..compare.memory_plan import parse_size, plan_memory
from ..errors import InputError
from ..models import resolve
from ..report.tables import TOO_FEW, with_interval
from ._common import FORMAT_HELP, emit, print_table, progress_bar

HELP = (
    "Compare variants (quantized, distilled, fine-tuned...) with a reference model token by token on a code "
    "corpus: llama.cpp's --kl-divergence statistics (PPL of both, ln PPL ratio, correlation of per-token "
    "losses, mean KL with percentiles, Δp of the correct token, same top-1) plus reverse KL, JS, entropies, "
    "top-5/top-10 agreement, bits per byte, and breakdowns by token class (from the source text), language "
    "and reference entropy.\n\n"
    "Examples:\n\n"
    "tokprobe compare gemma3-270m-F16 gemma3-270m-Q4_0 gemma3-270m-Q2_K  (after `tokprobe quantize gemma3-270m`)\n\n"
    "tokprobe compare ref.gguf q4.gguf --corpus src/ --ctx 1024 --show-top 10 --dump tokens.parquet\n\n"
    "tokprobe compare ref.gguf q4.gguf --mode cache-topk --topk 64  (reference stored once as top-K + tail)\n\n"
    "Defaults: n_ctx 512 and the file scheme (each source file its own sequence, BOS first where the "
    "vocabulary adds one, every token after the first scored once; a file longer than n_ctx continues in "
    "windows every n_ctx/2 tokens); --scheme llama is llama.cpp's scheme over the concatenated files (windows "
    "of n_ctx tokens, second half scored, exact to llama-perplexity); --scheme sliding scores every token of "
    "the concatenated files once. Modes: lockstep "
    "(all models loaded, the same batch decoded by each, logits compared in place), cache-exact (reference "
    "stored once as float16 log-probs, like llama.cpp's base file) and cache-topk (top-K + tail mass; the "
    "true KL lies in [KL, KL upper], both reported). State is kept per window under the run directory: an "
    "interrupted run (Ctrl-C) resumes when the same command is run again."
)

# Per-variant columns of the terminal breakdown tables (json/csv/--dump and the run directory have every column).
BREAKDOWN_COLUMNS = {"same_top1": ("top-1", "{:.1%}"), "dp_mean": ("Δp", "{:+.1%}")}
INDEPENDENT_COLUMNS = ["model", "role", "vocab", "n_tokens", "n_bytes", "bpb", "bpb_ratio"]


def register(app: typer.Typer) -> None:
    app.command("compare", help=HELP)(compare_command)


def _parse_breakdowns(spec: str) -> list[str]:
    if spec.strip().lower() in ("", "none"):
        return []
    out = [s.strip().lower() for s in spec.split(",") if s.strip()]
    for b in out:
        if b not in BREAKDOWNS:
            raise InputError(f"unknown breakdown {b!r}; choose from {', '.join(BREAKDOWNS)} or none")
    return out


def _short_names(names: list[str]) -> dict[str, str]:
    """Variant labels without their common prefix ('gemma3-270m-Q4_0' -> 'Q4_0') for narrow tables."""
    if len(names) < 2:
        return {n: n for n in names}
    prefix = os.path.commonprefix(names)
    cut = max(prefix.rfind("-"), prefix.rfind("_")) + 1 if prefix else 0
    return {n: (n[cut:] or n) for n in names}


def _formatted(f: str, xs: Any) -> list[str]:
    """Each value through format ``f``; NaN becomes '-'."""
    return [f.format(x) if x == x else "-" for x in xs]


def breakdown_view(result: CompareResult, by: str) -> pd.DataFrame:
    """One row per group, formatted for the terminal: tokens, files, share, then per variant its mean KL
    [95 % interval, files resampled], same top-1 and mean Δp of the correct token, and "too few" for a
    group under the minimum (the CSV files in the run directory have every statistic and bound)."""
    df = result.breakdown(by)
    key = "entropy_ref" if by == "entropy" else by
    short = _short_names(result.variants)
    first = df[df.variant == result.variants[0]]
    out = pd.DataFrame({key: first[key].to_numpy(), "tokens": first["n_tokens"].to_numpy(),
                        "files": first["n_files"].to_numpy(), "share": _formatted("{:.1%}", first["share_tokens"])})
    for v in result.variants:
        sub = df[df.variant == v].set_index(key).reindex(out[key])
        out[f"KL {short[v]}"] = [with_interval(*x) for x in zip(sub["kl_mean"], sub["kl_mean_lo"], sub["kl_mean_hi"],
                                                                 strict=True)]
        for col, (label, f) in BREAKDOWN_COLUMNS.items():
            out[f"{label} {short[v]}"] = _formatted(f, sub[col].to_numpy())
    out["evidence"] = [TOO_FEW if bool(x) else "" for x in first["too_few"]]
    return out


def _show_top(result: CompareResult, n: int) -> None:
    top = result.top_divergent(n)
    console = Console(soft_wrap=True)
    console.print(Text(f"\nMost divergent tokens (top {n} by KL per variant)", style="bold"))
    for r in top.to_dict(orient="records"):
        head = Text()
        head.append(f"{r['variant']}  ", style="bold")
        head.append(f"{r['file']}:{r['line']}  ", style="cyan")
        head.append(f"{r['class']}/{r['language']}  token {r['text']!r}  ")
        head.append(f"KL={r['kl']:.4f}  Δp={100 * r['dp']:+.2f}%  ", style="yellow")
        head.append(f"ref top-1 {r['argmax_ref_text']!r}  variant top-1 {r['argmax_var_text']!r}")
        console.print(head)
        ctx = Text(r["context"])
        if r["context_end"] > r["context_start"]:
            ctx.stylize("reverse bold", r["context_start"], r["context_end"])
        for line in ctx.split("\n"):
            console.print(Text("    ") + line)


def compare_command(
    reference: str = typer.Argument(..., help="Reference model: a name (gemma3-270m-F16) or a GGUF path."),
    variants: list[str] = typer.Argument(..., help="One or more variants (names or GGUF paths)."),
    corpus: Path | None = typer.Option(
        None, "--corpus", "-C",
        help="A source file or directory, or @pygments (held-out example files; default: the shipped corpus)."
    ),
    language: str | None = typer.Option(None, "--language", "-l", help="Take every file as this language."),
    n_ctx: int = typer.Option(512, "--ctx", "-c", help="Context length of each window (llama.cpp's -c; default 512)."),
    scheme: str = typer.Option("file", "--scheme", help="Scoring scheme: file (default), llama or sliding."),
    stride: int | None = typer.Option(None, "--stride",
                                      help="Window stride of the file and sliding schemes (default n_ctx/2)."),
    mode: str = typer.Option(
        "auto", "--mode", "-m", help="auto (lock-step when every model fits the memory budget, else the cached "
        "reference), lockstep, cache-exact or cache-topk."),
    memory_budget: str | None = typer.Option(
        None, "--memory-budget", help="Memory the run may use, e.g. 8G (default: 80% of the memory available now)."),
    kld_base: Path | None = typer.Option(
        None, "--kld-base", help="Read a llama-perplexity --kl-divergence-base file as the reference (with "
        "--scheme llama; its n_ctx, vocabulary and tokens are checked against the corpus)."),
    write_kld_base: Path | None = typer.Option(
        None, "--write-kld-base", help="Also write the reference's llama-perplexity --kl-divergence-base file "
        "(with --scheme llama), for llama-perplexity --kl-divergence."),
    plan_only: bool = typer.Option(
        False, "--plan", help="Print the memory plan (estimated peak per model and mode) and exit without running."),
    topk: int = typer.Option(64, "--topk", "-k", help="K of the cache-topk mode."),
    batch: int = typer.Option(512, "--batch", "-b", help="Tokens per decode (n_batch, at most n_ctx)."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="Use only the first N tokens of the corpus."),
    tokens_per_language: int | None = typer.Option(
        None, "--tokens-per-language",
        help="Balance the corpus: about N scored tokens of every language, shared among all its files."),
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="Run state and results (default: <tokprobe cache>/compare/<run key>)."
    ),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Reference caches (default: <tokprobe cache>/reference)."
    ),
    threads: int | None = typer.Option(None, "--threads", "-t", min=1, help="Threads (default: all cores)."),
    breakdowns: str = typer.Option(
        "class,language,entropy", "--breakdown", help="Breakdown tables to print: class, language, entropy, file "
        "(comma-separated) or none."
    ),
    show_top: int = typer.Option(0, "--show-top", min=0, help="Show the N most divergent tokens with their code."),
    dump: Path | None = typer.Option(None, "--dump", help="Write the per-token table to this Parquet file."),
    allow_different_vocab: bool = typer.Option(
        False, "--allow-different-vocab", help="Accept variants with another vocabulary: they get only "
        "tokenizer-independent metrics (bits per byte, per-class bits)."
    ),
    no_floor: bool = typer.Option(False, "--no-floor", help="Skip the reference-vs-itself check."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore the state of an earlier run (no resume)."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP + " json/csv/parquet give the full summary."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the full summary table to this file."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
) -> None:
    shown = _parse_breakdowns(breakdowns)
    budget = parse_size(memory_budget) if memory_budget is not None else None
    if plan_only:
        _print_plan(reference, variants, n_ctx=n_ctx, batch=batch, mode=mode, budget=budget, fmt=fmt, out=out)
        return
    if dump is not None and dump.suffix.lower() != ".parquet":
        raise InputError(f"--dump writes Parquet: give a .parquet file, not {dump.name}")
    kwargs: dict[str, Any] = dict(
        corpus=corpus, n_ctx=n_ctx, scheme=scheme, stride=stride, mode=mode, topk=topk, batch=batch,
        max_tokens=max_tokens, tokens_per_language=tokens_per_language, run_dir=run_dir, cache_dir=cache_dir,
        memory_budget=budget, kld_base=kld_base, write_kld_base=write_kld_base,
        threads=threads, language=language,
        allow_different_vocab=allow_different_vocab, floor=not no_floor, resume=not fresh,
    )
    if no_progress:
        result = compare(reference, variants, **kwargs)
    else:
        with progress_bar("compare", unit="tok") as update:
            result = compare(reference, variants, progress=update, **kwargs)
    if dump is not None:
        io.write_frame(result.tokens, dump, "parquet")
        typer.echo(f"wrote {dump}", err=True)
    if fmt != "table" or out is not None:
        emit(result.summary, fmt, out, title="compare")
        if fmt != "table":
            return
    _print_tables(result, shown, show_top)
    _print_notes(result)


def _print_plan(reference: str, variants: list[str], *, n_ctx: int, batch: int, mode: str, budget: int | None,
                fmt: str, out: Path | None) -> None:
    """``--plan``: the estimate per model (MiB by part) and the mode that would run; nothing is loaded."""
    paths = [resolve(m) for m in [reference, *variants]]
    plan = plan_memory(paths, mode=mode, n_ctx=n_ctx, n_batch=min(batch, n_ctx), budget=budget)
    emit(plan.table(), fmt, out, title=f"memory plan: mode {plan.mode} (asked: {plan.requested}), estimated peak "
                                       f"{plan.peak / 2**30:.2f} GiB of a {plan.budget / 2**30:.2f} GiB budget (MiB)")


def _title(result: CompareResult) -> str:
    s = result.settings
    mode_note = {"lockstep": "lock-step", "cache-exact": "cached reference (float16 log-probs)",
                 "cache-topk": f"cached reference (top-{s.topk} + tail; KL is a lower bound, "
                               "the true KL lies in [KL, KL upper])"}[s.mode]
    return (f"{result.reference} vs {', '.join(result.variants)} — {mode_note}; n_ctx={s.n_ctx}, "
            f"scheme={s.scheme}" + (f", stride={s.stride}" if s.stride else ""))


def _print_tables(result: CompareResult, shown: list[str], show_top: int) -> None:
    """The summary, the breakdowns, the tokenizer-independent metrics and the most divergent tokens."""
    if result.variants:
        print_table(result.report_table(), title=_title(result))
        for by in shown:
            what = "reference entropy (nats)" if by == "entropy" else by
            print_table(breakdown_view(result, by),
                        title=f"by {what}: mean KL [95 % interval], same top-1, mean Δp of the correct token")
    if result.different_vocab:
        ind = result.tokenizer_independent
        cols = INDEPENDENT_COLUMNS + [c for c in ind.columns if c.startswith("bpb_") and c != "bpb_ratio"]
        print_table(ind[[c for c in cols if c in ind.columns]], float_fmt="{:.4g}",
                    title="TOKENIZER-INDEPENDENT METRICS ONLY (different vocabularies): bits per byte of the "
                          "scored text, overall and per source class")
    if show_top and result.variants:
        _show_top(result, show_top)


def _print_notes(result: CompareResult) -> None:
    """The self floor, the reference cache and the run directory, on stderr."""
    floor = result.floor
    if floor:
        typer.echo(f"self floor: max |KL| of the reference against itself over {floor.get('self_tokens', 0)} "
                   f"tokens = {floor.get('self_kl_max')}", err=True)
        if "codec_floor_kl_max" in floor:
            typer.echo(f"codec floor: max KL of the reference against its own float16 log-probs = "
                       f"{floor['codec_floor_kl_max']:.3g} nats", err=True)
    if result.reference_cache:
        rc = result.reference_cache
        typer.echo(f"reference cache: {rc['path']} ({rc['bytes_per_token']:.1f} bytes/token)", err=True)
    typer.echo(f"results: {result.run_dir}", err=True)
