"""Helpers shared by CLI commands: output formats, progress bars, command groups."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pandas as pd
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .. import io
from ..errors import InputError

FORMAT_HELP = "Output format: table, json, csv or parquet (parquet needs --out)."
ProgressFn = Callable[[int, int], None]


def command_group(name: str, help: str) -> typer.Typer:
    """A sub-command group (``tokprobe models ...``); with no sub-command it prints its help."""
    return typer.Typer(name=name, help=help, no_args_is_help=True,
                       context_settings={"help_option_names": ["-h", "--help"]})


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
    """``df`` as a rich table on stdout (numbers right-aligned, floats through ``float_fmt``)."""
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
def progress_bar(description: str, unit: str = "") -> Iterator[ProgressFn]:
    """A rich progress bar; yields ``update(done, total)`` for the API's progress callbacks.

    When stderr is not a terminal (a log file, CI) a bar would print nothing until the end, so a
    plain line is written instead at the first update, every ``PROGRESS_LINE_EVERY`` seconds and on
    completion.
    """
    console = _stderr_console()
    if not console.is_terminal:
        yield line_progress(description, unit, console.file)
        return
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


def line_progress(description: str, unit: str, stream: IO[str]) -> ProgressFn:
    """``update(done, total)`` writing lines like ``finetune: 50/200 (25%), 310 s, ETA 930 s``."""
    return LineProgress(description, unit, stream)


class LineProgress:
    """A progress callback printing a plain line when due (first update, every
    ``PROGRESS_LINE_EVERY`` seconds, completion once)."""

    def __init__(self, description: str, unit: str, stream: IO[str]) -> None:
        self.description, self.unit, self.stream = description, unit, stream
        self.start = time.monotonic()
        self.last: float | None = None  # time of the last line written
        self.last_done: int | None = None

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        finished = bool(total) and done >= total
        due = self.last is None or now - self.last >= PROGRESS_LINE_EVERY
        if not (due or finished) or (finished and self.last_done == done):
            return
        self.last, self.last_done = now, done
        elapsed = now - self.start
        parts = [f"{self.description}: {done:,}" + (f"/{total:,} ({100 * done / total:.0f}%)" if total else "")]
        parts.append(f"{elapsed:.0f} s")
        if self.unit and done and elapsed > 0:
            parts.append(f"{done / elapsed:,.1f} {self.unit}/s")
        if total and done and not finished:
            parts.append(f"ETA {elapsed * (total - done) / done:.0f} s")
        print(", ".join(parts), file=self.stream, flush=True)


def _stderr_console() -> Console:
    return Console(stderr=True)
