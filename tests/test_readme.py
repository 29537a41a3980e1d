"""The README's two commands are the contract with users and CI: keep them in sync with .ci/run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _fenced_after(marker: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(re.escape(marker) + r".*?```(?:bash|sh)?\n(.*?)```", text, flags=re.S)
    assert m, f"README has no fenced command after {marker!r}"
    lines = [ln for ln in m.group(1).splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert len(lines) == 1, f"expected one command after {marker!r}, got {lines}"
    return lines[0].strip()


def test_ci_runs_exactly_the_readme_test_command():
    command = _fenced_after("<!-- test-command -->")
    ci_lines = [
        ln.strip()
        for ln in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.strip().startswith("#")
    ]
    assert ci_lines[-1] == command


def test_readme_main_command_installs_and_runs_the_study():
    command = _fenced_after("<!-- main-command -->")
    assert command.startswith("pip install ")
    assert "tokprobe study" in command


def test_local_links_in_the_docs_resolve():
    """Every relative link or image in README.md and docs/*.md points at a file in the repository."""
    root = ROOT
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if target.startswith(("http://", "https://", "#", "mailto:")):
                continue
            if not (page.parent / target.split("#")[0]).exists():
                missing.append(f"{page.relative_to(root)} -> {target}")
    assert not missing, missing
