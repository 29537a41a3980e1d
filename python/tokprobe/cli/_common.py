"""Helpers shared by CLI commands: output formats, progress bars, thread options."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
import typer

from .. import io
from ..errors import InputError

FORMAT_HELP = "Output format: table, json, csv or parquet (parquet needs --out)."


def emit(df: pd.DataFrame, fmt: str = "table", out: Path | None = None, title: str | None = None) -> None:
    """Render ``df`` to stdout (table/json/csv) or write it to ``out`` (any format, atomically)."""
    fmt = fmt.lower()
    if fmt not in io.TABLE_FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(io.TABLE_FORMATS)}")
    if out is not None:
        io.write_frame(df, out, "csv" if fmt == "table" else fmt)
        typer.echo(f"wrote {out}", err=True)
        return
    if fmt == "parquet":
        raise InputError("--format parquet needs --out FILE")
    if fmt == "json":
        typer.echo(io.frame_to_json(df))
    elif fmt == "csv":
        df.to_csv(sys.stdout, index=False)
    else:
        print_table(df, title=title)


def print_table(df: pd.DataFrame, title: str | None = None, float_fmt: str = "{:.6g}") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in df.columns:
        table.add_column(str(col), justify="right" if pd.api.types.is_numeric_dtype(df[col]) else "left")
    for row in df.itertuples(index=False):
        table.add_row(*[_cell(v, float_fmt) for v in row])
    Console(soft_wrap=False, width=max(120, Console().width)).print(table)


def _cell(v: object, float_fmt: str) -> str:
    if isinstance(v, float):
        return float_fmt.format(v)
    return str(v)


@contextmanager
def progress_bar(description: str, unit: str = "") -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar; yields ``update(done, total)`` for the API's progress callbacks.

    When stderr is not a terminal (a log file, CI) a bar would print nothing until the end, so a
    plain line is written instead at the first update, every ``PROGRESS_LINE_EVERY`` seconds and on
    completion.
    """
    console = _stderr_console()
    if not console.is_terminal:
        yield line_progress(description, unit, console.file)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, transient=False, console=console) as prog:
        task = prog.add_task(description, total=None, rate="")

        def update(done: int, total: int) -> None:
            t = prog.tasks[0]
            rate = ""
            if t.elapsed and done:
                rate = f"{done / t.elapsed:,.1f} {unit}/s" if unit else ""
            prog.update(task, completed=done, total=total, rate=rate)

        yield update


PROGRESS_LINE_EVERY = 30.0  # seconds between plain progress lines


def line_progress(description: str, unit: str, stream) -> Callable[[int, int], None]:
    """``update(done, total)`` writing lines like ``finetune: 50/200 (25%), 310 s, ETA 930 s``."""
    start = time.monotonic()
    state = {"last": None, "done": None}

    def update(done: int, total: int) -> None:
        now = time.monotonic()
        finished = bool(total) and done >= total
        due = state["last"] is None or now - state["last"] >= PROGRESS_LINE_EVERY
        if not (due or finished) or (finished and state["done"] == done):
            return
        state["last"], state["done"] = now, done
        elapsed = now - start
        parts = [f"{description}: {done:,}" + (f"/{total:,} ({100 * done / total:.0f}%)" if total else "")]
        parts.append(f"{elapsed:.0f} s")
        if unit and done and elapsed > 0:
            parts.append(f"{done / elapsed:,.1f} {unit}/s")
        if total and done and not finished:
            parts.append(f"ETA {elapsed * (total - done) / done:.0f} s")
        print(", ".join(parts), file=stream, flush=True)

    return update


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)
