"""``tokprobe coldstart``: cold-start PKP/KAP/STP/NLP of one or several models (docs/method.md §2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import typer

from ..coldstart import CONTEXT_HELP, ColdStartResult, coldstart, ladder_models
from ..errors import InputError
from ._common import FORMAT_HELP, emit, progress_bar

SHOW = {
    "summary": "summary",
    "languages": "per_language",
    "top": "top_tokens",
    "keywords": "keyword_probs",
    "pairwise": "pairwise",
    "shifts": "shifts",
    "classes": "class_mass",
    "chained": "chained",
}
# Columns of the default terminal table (json/csv/--out get every column).
SUMMARY_TABLE_COLUMNS = [
    "model", "context", "pkp", "kap", "stp", "nlp", "indent_p", "entropy", "kl_to_ref", "js_to_ref",
]  # fmt: skip
SINGLE_MODEL_EXTRA = ["top1_text", "top1_p", "n_stp_tokens"]

HELP = (
    "Cold-start distribution of each model: the probabilities at the first position after a short context, "
    "with PKP (programming-keyword probability), KAP (PKP per keyword), STP (tokens whose text starts with "
    "punctuation or a symbol), NLP (common English words), indentation probability, entropy and top tokens; "
    "between models with the same vocabulary, KL/JS to the reference (the first model), Spearman of keyword "
    "probabilities and the largest probability shifts.\n\n"
    "Examples:\n\n"
    "tokprobe coldstart  (the default model, gemma3-270m)\n\n"
    "tokprobe coldstart --ladder  (every level of the default quant ladder, F16 first as the reference)\n\n"
    "tokprobe coldstart smollm2-135m --context chat --show top\n\n"
    "tokprobe coldstart gemma3-270m-F16 gemma3-270m-Q2_K --chain --out-dir runs/cs\n\n"
    "Decisions: the default context is 'auto' = bos when the vocabulary has a BOS and adds it to prompts "
    "(Gemma: <bos>), else the <|endoftext|> document separator when the vocabulary has one (SmolLM2, whose "
    "BOS <|im_start|> and EOS <|im_end|> are chat tokens), else eos. A keyword counts in PKP through "
    "its single-token bare and space-prefixed forms (--forms), token ids de-duplicated across languages; KAP "
    "divides by the number of distinct keywords. STP = decoded text, leading whitespace stripped, starts with "
    "ASCII punctuation or a Unicode symbol; whitespace-only and control tokens excluded; the set size is "
    "reported ('_' counts as an identifier character, not punctuation). NLP uses the shipped English "
    "control list, each word as listed and capitalised, minus keyword tokens. The context ids, rules and "
    "model hashes are in provenance.json (--out-dir)."
)


def register(app: typer.Typer) -> None:
    app.command("coldstart", help=HELP)(coldstart_command)


def _table_view(df: pd.DataFrame, name: str, fmt: str) -> pd.DataFrame:
    """A narrower view for the terminal table (json/csv/--out keep every column)."""
    if fmt != "table" or df is None or df.empty:
        return df
    df = df.copy()
    if name == "summary":
        cols = [c for c in SUMMARY_TABLE_COLUMNS if c in df.columns]
        if "pkp_chained" in df.columns:
            cols.insert(cols.index("kap") + 1, "pkp_chained")
        if len(df) == 1:
            cols = [c for c in cols if not c.endswith("_to_ref")] + SINGLE_MODEL_EXTRA
        df = df[cols]
    elif name == "top_tokens":
        flags = ["keyword", "stp", "nlp", "indent"]
        df["sets"] = [",".join(f for f in flags if row[f]) for _, row in df[flags].iterrows()]
        df = df[["model", "rank", "token_id", "text", "p", "class", "kind", "sets", "languages"]]
    elif name == "keyword_probs":
        df = df.sort_values(["model", "p"], ascending=[True, False], kind="stable")
        df = df[["model", "token_id", "text", "forms", "languages", "p", "rank"]]
    elif name == "shifts":
        df = df[["model", "rank", "token_id", "text", "class", "p_ref", "p_var", "delta_p"]]
    elif name == "pairwise":
        df = df[["model", "same_vocab", "kl", "kl_reverse", "js", "top1_agree", "top10_overlap",
                 "spearman_keywords", "d_pkp", "d_stp", "d_nlp"]]  # fmt: skip
    if "model" in df.columns and df["model"].nunique() == 1 and name not in ("summary", "pairwise"):
        df = df.drop(columns=["model"])
    if "context" in df.columns and df["context"].nunique() == 1 and name == "summary":
        df = df.drop(columns=["context"])  # shown in the title instead
    for col in df.columns:
        if pd.api.types.is_float_dtype(df[col]):
            df[col] = df[col].map(lambda x: float(f"{x:.4g}") if pd.notna(x) else x)
        if col in ("text", "top1_text", "top_keyword_text", "form_text"):
            df[col] = df[col].map(lambda t: repr(str(t))[1:-1] if t is not None else "")
    return df


def coldstart_command(
    models: list[str] | None = typer.Argument(
        None, help="Model names (gemma3-270m, smollm2-135m, ladder names like gemma3-270m-Q4_0) or GGUF paths. "
        "Default: gemma3-270m. The first is the reference."
    ),
    ladder: bool = typer.Option(
        False, "--ladder", help="Use every level of the quant ladder (built or reused by tokprobe.models.ladder) "
        "of the one MODEL given, or of the default model; the F16 file is the reference."
    ),
    context: str = typer.Option("auto", "--context", "-c", help=CONTEXT_HELP),
    top_k: int = typer.Option(20, "--top-k", "-k", min=1, help="Top tokens to list per model."),
    chain: bool = typer.Option(
        False, "--chain", help="Also give exact probabilities of every keyword form, multi-token ones by chaining "
        "conditionals (extra batched passes); pkp_chained counts each form at a word boundary only, so that "
        "`for` does not also hold `foreach` (docs/method.md §2)."
    ),
    forms: str = typer.Option(
        "bare,space", "--forms", help="Keyword forms counted in PKP: bare, space, newline (comma-separated)."
    ),
    languages: str | None = typer.Option(None, "--languages", help="Only these languages (comma-separated)."),
    keywords: Path | None = typer.Option(
        None, "--keywords", help="Keyword file (JSON/TOML: language -> keywords), added to the shipped lists."
    ),
    control_words: Path | None = typer.Option(
        None, "--control-words", help="English control list for NLP, one word per line (default: shipped list)."
    ),
    nlp_capitalized: bool = typer.Option(
        True, "--nlp-capitalized/--nlp-as-listed",
        help="NLP counts each control word as listed and capitalised (a document starts with 'The'), "
        "or only as listed.",
    ),
    reference: str | None = typer.Option(
        None, "--reference", "-r", help="Reference model label for KL/JS/shifts (default: the first model)."
    ),
    shifts: int = typer.Option(20, "--shifts", min=0, help="Tokens with the largest probability shift per model."),
    show: str = typer.Option(
        "summary", "--show", help="Table to print: " + ", ".join(SHOW) + "."
    ),
    threads: int | None = typer.Option(None, "--threads", "-t", min=1, help="Threads (default: all cores)."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the shown table to this file."),
    out_dir: Path | None = typer.Option(
        None, "--out-dir", help="Write every table, provenance.json and the PNG plots here (atomically)."
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
) -> None:
    if show not in SHOW:
        raise InputError(f"unknown --show {show!r}; choose one of {', '.join(SHOW)}")
    if show == "chained" and not chain:
        raise InputError("--show chained needs --chain")
    sources = _sources(list(models or []), ladder, not no_progress)
    kwargs: dict[str, Any] = dict(
        context=context,
        top_k=top_k,
        keywords=keywords,
        chain=chain,
        threads=threads,
        keyword_forms=forms,
        control_words=control_words,
        languages=languages,
        reference=reference if reference is not None else 0,
        n_shifts=shifts,
        nlp_capitalized=nlp_capitalized,
    )
    if no_progress:
        result = coldstart(sources, **kwargs)
    else:
        with progress_bar("cold start", unit="models") as update:
            result = coldstart(sources, progress=update, **kwargs)
    _render(result, show, fmt, out, out_dir)


def _sources(names: list[str], ladder: bool, show_progress: bool) -> list[str] | dict[str, str]:
    """The models to profile: the names given (default: gemma3-270m), or with ``--ladder`` the quant
    ladder of the one name given, its reference rung first."""
    if not ladder:
        return names or ["gemma3-270m"]
    if len(names) > 1:
        raise InputError("--ladder takes at most one MODEL (the source of the ladder)")
    source = names[0] if names else None
    if not show_progress:
        return ladder_models(source)
    with progress_bar("quant ladder") as update:
        return ladder_models(source, progress=update)


def _render(result: ColdStartResult, show: str, fmt: str, out: Path | None, out_dir: Path | None) -> None:
    if out_dir is not None:
        written = result.write(out_dir, fmt="csv" if fmt == "table" else fmt)
        typer.echo(f"wrote {len(written)} files to {out_dir}", err=True)
    name = SHOW[show]
    df = getattr(result, name)
    contexts = ", ".join(dict.fromkeys(result.summary["context"].astype(str)))
    title = f"cold start ({show}), context {contexts}"
    if show in ("summary", "pairwise", "shifts") and len(result.summary) > 1:
        title += f"; reference {result.reference}"
    emit(_table_view(df, name, fmt) if out is None else df, fmt, out, title=title)
