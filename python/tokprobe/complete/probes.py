"""Where completion probes sit in a source file, and what the true continuation is.

A probe is a byte offset in a file where the model is asked to go on writing:

- **line** probes sit at the start of a line of code: the line's first non-blank byte is not part
  of a comment or a string (pygments, :func:`tokprobe.lexicon.byte_classes`) and the line holds at
  least one letter or digit (a line of closing brackets alone is not a probe). The true
  continuation is the rest of the line, without its newline.
- **block** probes sit at the start of the first code line of a block: the line before it (comment
  lines skipped) ends with an opening brace ``{`` or a colon ``:`` (Ruby: also ``do``/``do |...|``),
  trailing comment excluded, and the probe's line is indented deeper. The block is that line and every following
  line indented deeper than the opener (blank lines inside included); its end is the end of its
  last such line. The closing brace, at the opener's indentation, is not part of it.

:func:`sample_probes` draws them seeded. To keep a file's prefill short, a file's probes are
consecutive candidates from a seeded start (one shared prefill covers them all).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..lexicon import SOURCE_CLASSES, byte_classes

MODES = ("line", "block")
_COMMENT = SOURCE_CLASSES.index("comment")
_LITERAL = SOURCE_CLASSES.index("literal")
_ALNUM = re.compile(r"[A-Za-z0-9]")
_RUBY_DO = re.compile(r"\bdo(\s*\|[^|]*\|)?$")


@dataclass(frozen=True)
class Probe:
    """One probe: ``start`` (byte offset where the completion starts), ``end`` (byte offset where the
    true continuation ends), the line number (1-based) and the opener's indentation (block mode)."""

    start: int
    end: int
    line: int
    mode: str
    indent: int = -1  # block mode: the opener's indentation (columns); the block ends at a line not deeper


@dataclass(frozen=True)
class _Line:
    start: int  # byte offset of the line's first byte
    end: int  # byte offset of its newline (or of the end of the file)
    indent: int  # leading whitespace, tabs as 4 columns
    first: int  # byte offset of the first non-blank byte (== end for a blank line)
    text: str


def _lines(data: bytes) -> list[_Line]:
    out: list[_Line] = []
    pos = 0
    for raw in data.split(b"\n"):
        text = raw.decode("utf-8", "replace").rstrip("\r")
        stripped = text.lstrip(" \t")
        lead = text[:len(text) - len(stripped)]
        indent = lead.count(" ") + 4 * lead.count("\t")
        first = pos + len(raw) - len(raw.lstrip(b" \t")) if stripped else pos + len(raw)
        out.append(_Line(pos, pos + len(raw), indent, first, text))
        pos += len(raw) + 1
    if out and out[-1].start >= len(data):
        out.pop()  # a final newline opens no line
    return out


def indentation(line: str) -> int:
    """Columns of leading whitespace (a tab counts 4)."""
    stripped = line.lstrip(" \t")
    lead = line[:len(line) - len(stripped)]
    return lead.count(" ") + 4 * lead.count("\t")


def _is_code(line: _Line, classes: np.ndarray) -> bool:
    if line.first >= line.end or not _ALNUM.search(line.text):
        return False
    return int(classes[line.first]) not in (_COMMENT, _LITERAL)


def _opens_block(text: str, language: str) -> bool:
    s = text.rstrip()
    marker = "#" if language in ("python", "ruby") else "//"
    if not s.endswith(("{", ":")) and marker in s:
        s = s[:s.index(marker)].rstrip()  # a trailing comment (a marker inside a string is rare here)
    if s.endswith(("{", ":")):
        return True
    return language == "ruby" and bool(_RUBY_DO.search(s))


def candidates(text: str, language: str, mode: str) -> list[Probe]:
    """Every probe position of ``mode`` in ``text`` (a file of ``language``), in file order."""
    if mode not in MODES:
        raise InputError(f"unknown completion mode {mode!r}; use one of {', '.join(MODES)}")
    data = text.encode("utf-8", "surrogateescape")
    classes = byte_classes(text, language=language)
    lines = _lines(data)
    out: list[Probe] = []
    for i, ln in enumerate(lines):
        if not _is_code(ln, classes) or not data[:ln.first].strip():
            continue  # not code, or nothing precedes it (no prompt)
        if mode == "line":
            out.append(Probe(ln.first, ln.end, i + 1, mode))
            continue
        prev = next((p for p in reversed(lines[:i]) if p.first < p.end and int(classes[p.first]) != _COMMENT), None)
        if prev is None or ln.indent <= prev.indent or not _opens_block(prev.text, language):
            continue
        last = ln
        for nxt in lines[i + 1:]:
            if nxt.first >= nxt.end:
                continue  # blank lines inside a block belong to it only if a deeper line follows
            if nxt.indent <= prev.indent:
                break
            last = nxt
        out.append(Probe(ln.first, last.end, i + 1, mode, indent=prev.indent))
    return out


def sample_probes(text: str, language: str, mode: str, n: int, *, seed: int = 0) -> list[Probe]:
    """``n`` consecutive candidates from a seeded start (all of them when there are fewer).

    Consecutive, so one prefill of the file's first tokens serves them all: the cost of a file is
    the prefix up to its last probe."""
    cands = candidates(text, language, mode)
    if n <= 0 or not cands:
        return []
    if len(cands) <= n:
        return cands
    rng = np.random.default_rng(seed)
    lo = int(rng.integers(0, len(cands) - n + 1))
    return cands[lo:lo + n]


def block_end(text: str, indent: int) -> int:
    """Characters of ``text`` (generated after a block's start) that belong to the block: up to the
    first non-blank line (after the first) indented ``indent`` columns or less; all if none is."""
    pos = 0
    for k, line in enumerate(text.split("\n")):
        if k > 0 and line.strip() and indentation(line) <= indent:
            return max(0, pos - 1)  # drop the newline before it
        pos += len(line) + 1
    return len(text)
