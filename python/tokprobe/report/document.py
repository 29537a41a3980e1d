"""A report as a list of sections, rendered to Markdown and to one self-contained HTML file.

Plots are PNG files next to the report; the HTML embeds them as base64 so it can be mailed
or opened anywhere, the Markdown links to them.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

WIDE_COLUMNS = 12  # an HTML table wider or longer than this is folded into a <details> element
LONG_ROWS = 40


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)  # paragraphs (Markdown-light: `code` only)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # (caption, frame)
    images: list[tuple[str, Path]] = field(default_factory=list)  # (caption, png)
    bullets: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (text, relative href), shown first


@dataclass
class Document:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)

    def add(self, section: Section) -> Section:
        self.sections.append(section)
        return section


def _fmt(v: object) -> str:
    if isinstance(v, float):
        if v != v:
            return "–"
        if v == 0 or 1e-3 <= abs(v) < 1e6:
            return f"{v:.4g}" if abs(v) < 1 else f"{v:,.4g}"
        return f"{v:.3e}"
    return str(v)


def _md_table(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v).replace("|", "\\|").replace("\n", " ") for v in row) + " |")
    return "\n".join(lines)


def to_markdown(doc: Document, base: Path) -> str:
    out = [f"# {doc.title}", ""]
    if doc.subtitle:
        out += [doc.subtitle, ""]
    for s in doc.sections:
        out += [f"## {s.title}", ""]
        for text, href in s.links:
            out += [f"[{text}]({href})", ""]
        for p in s.text:
            out += [p, ""]
        for b in s.bullets:
            out.append(f"- {b}")
        if s.bullets:
            out.append("")
        for cap, img in s.images:
            rel = img.relative_to(base) if img.is_relative_to(base) else img
            out += [f"![{cap}]({rel.as_posix()})", ""]
        for cap, df in s.tables:
            if len(df.columns) > WIDE_COLUMNS or len(df) > LONG_ROWS:  # folded, as in the HTML
                out += [f"<details><summary>{cap or 'table'} ({len(df)} rows)</summary>", "", _md_table(df), "",
                        "</details>", ""]
                continue
            if cap:
                out += [f"**{cap}**", ""]
            out += [_md_table(df), ""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{border-bottom:2px solid #333}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:1em 0;font-size:.85em;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85em;color:#555}
code{background:#f5f5f5;padding:0 .2em}.sub{color:#555}
"""


def _inline(text: str) -> str:
    """`code` and *emphasis*, the two markdown marks the report's prose uses."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else _EMPHASIS.sub(r"<em>\1</em>", p) for i, p in enumerate(parts))


_EMPHASIS = re.compile(r"\*([^*]+)\*")


def _html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for row in df.itertuples(index=False):
        rows.append("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def to_html(doc: Document) -> str:
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(doc.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(doc.title)}</h1>",
    ]
    if doc.subtitle:
        out.append(f"<p class='sub'>{_inline(doc.subtitle)}</p>")
    out.append("<nav><ul>" + "".join(
        f"<li><a href='#s{i}'>{html.escape(s.title)}</a></li>" for i, s in enumerate(doc.sections)) + "</ul></nav>")
    for i, s in enumerate(doc.sections):
        out.append(f"<h2 id='s{i}'>{html.escape(s.title)}</h2>")
        out += [f"<p><a href='{html.escape(href, quote=True)}'>{html.escape(text)}</a></p>" for text, href in s.links]
        out += [f"<p>{_inline(p)}</p>" for p in s.text]
        if s.bullets:
            out.append("<ul>" + "".join(f"<li>{_inline(b)}</li>" for b in s.bullets) + "</ul>")
        for cap, img in s.images:
            if img.exists():
                data = base64.b64encode(img.read_bytes()).decode("ascii")
                out.append(f"<figure><img alt='{html.escape(cap)}' src='data:image/png;base64,{data}'>"
                           f"<figcaption>{html.escape(cap)}</figcaption></figure>")
        for cap, df in s.tables:
            if len(df.columns) > WIDE_COLUMNS or len(df) > LONG_ROWS:  # folded: open it to read every column
                out.append(f"<details><summary><b>{html.escape(cap or 'table')}</b> ({len(df)} rows, "
                           f"{len(df.columns)} columns)</summary>{_html_table(df)}</details>")
                continue
            if cap:
                out.append(f"<p><b>{html.escape(cap)}</b></p>")
            out.append(_html_table(df))
    out.append("</body></html>")
    return "\n".join(out)
