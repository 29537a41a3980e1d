"""Reports: a study run directory rendered to a self-contained ``report.html`` and ``report.md``."""

from __future__ import annotations

from pathlib import Path

from .. import io
from .build import build_document
from .document import Document, Section, to_html, to_markdown

__all__ = ["Document", "Section", "build_document", "render_report", "to_html", "to_markdown"]


def render_report(run_dir: str | Path) -> tuple[Path, Path]:
    """(Re-)render ``report.html`` and ``report.md`` from the results stored in ``run_dir``."""
    run = Path(run_dir)
    doc = build_document(run)
    html_path = io.write_text(run / "report.html", to_html(doc))
    md_path = io.write_text(run / "report.md", to_markdown(doc, run))
    return html_path, md_path
