"""``tokprobe vocab --paper``: the paper's vocabulary tables for Qwen2.5, DeepSeek-V3 and Llama 3.1."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from ..vocab.paper_tables import SYMBOL_RULE, PaperTables, paper_tables
from ._common import emit, progress_bar

_TITLES = {
    "counts": "vocabulary: base (the paper's counts) and added/special tokens",
    "coverage": "keyword coverage per language and form (share one token; missed_* = keywords that are not)",
    "vocab": "whitespace-only base tokens (decoded text empty after strip) and programming-symbol tokens",
    "corpus": "bytes per token and tokens per line per language",
    "splits": "how each missed keyword splits",
}
_PCT = ("bare", "space", "newline", "any", "whitespace_share", "symbol_share")


def _view(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in _PCT:
        if c in df.columns:
            df[c] = df[c].map(lambda v: "" if v != v else f"{100 * v:.2f}%")
    for c in df.columns:
        if pd.api.types.is_float_dtype(df[c]):
            df[c] = df[c].round(3)
    if "text" in df.columns:
        df["text"] = df["text"].map(lambda t: repr(str(t))[1:-1])
    return df


def paper_command(
    tokenizers: list[str] | None, *, languages: str | None, corpus: str | None, out_dir: Path | None, fmt: str,
    keywords: Path | None = None, replace_keywords: bool = False,
) -> PaperTables:
    """Compute and print (or write) the tables; returns them."""
    specs = {t: t for t in tokenizers} if tokenizers else None
    with progress_bar("vocab --paper", unit="steps") as update:
        tables = paper_tables(specs, corpus=corpus, languages=languages, keyword_file=keywords,
                              replace_keywords=replace_keywords, progress=update)
    if out_dir is not None:
        tables.save(out_dir)
        typer.echo(f"wrote {out_dir}", err=True)
    typer.echo(f"symbol tokens: {SYMBOL_RULE}", err=True)
    for name in ("counts", "coverage", "vocab", "corpus", "splits"):
        df = getattr(tables, name)
        if name == "splits":
            df = df[["tokenizer", "language", "keyword", "form", "n_pieces", "pieces"]]
        emit(_view(df) if fmt == "table" else df, fmt, None, title=_TITLES[name])
    return tables
