"""The explorer and the report in a real browser (Debian's chromium, driven headless by Playwright).

Where no browser is installed these tests skip with a message; in CI (``CI`` set) a missing browser
is a failure, so the pages are always checked there (.ci/run installs chromium with apt).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tokprobe.study import parse_config, run_study

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser_or_skip() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if CHROMIUM is None or sync_playwright is None:
        why = "no chromium on PATH" if CHROMIUM is None else "playwright is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {why}")
        pytest.skip(f"browser tests skipped: {why} (apt install chromium; pip install playwright)")
    return sync_playwright


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    sync_playwright = _browser_or_skip()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1400, "height": 900})
        pg.errors = []  # console errors and uncaught exceptions of every page loaded
        pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        yield pg
        browser.close()


@pytest.fixture(scope="module")
def study_dir(tiny_model_path: Path, tiny_model_path_b: Path, small_corpus: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny study (models and compare steps): its report and explorer."""
    d = tmp_path_factory.mktemp("browser")
    corpus = small_corpus
    cfg = parse_config({
        "study": {"name": "tiny", "threads": 2},
        "groups": [{"technique": "finetuning", "name": "tiny pair", "reference": str(tiny_model_path),
                    "variants": [str(tiny_model_path_b)]}],
        "compare": {"corpus": str(corpus), "n_ctx": 64},
    }, source="test")
    run = d / "run"
    run_study(cfg, run, steps=("models", "compare"))
    return run


def _visible_files(pg: Any) -> int:
    return int(pg.evaluate("[...document.querySelectorAll('#files .file')].filter(e => e.style.display !== 'none')"
                           ".length"))


def test_explorer_click_shows_both_models_next_tokens_and_filters_work(page: Any, study_dir: Path,
                                                                        tmp_path: Path) -> None:
    page.errors.clear()
    page.goto((study_dir / "explorer.html").as_uri())
    n = page.locator("#files .t").count()
    assert n > 50
    page.locator("#files .t").nth(10).click()
    panel = page.locator("#panel").inner_text()
    assert "KL(ref" in panel and "same top-1" in panel
    assert page.locator("#top-ref tr").count() == 5 and page.locator("#top-var tr").count() == 5
    assert _visible_files(page) == 3
    page.select_option("#lang", "rust")
    assert _visible_files(page) == 1
    items = page.locator("#ranked li[data-i]")
    assert items.count() > 0
    items.first.click()
    assert page.locator("#files .t.sel").count() == 1
    page.select_option("#stat", "dp")
    assert "blue: better" in page.locator("#legend").inner_text()
    page.screenshot(path=str(tmp_path / "explorer.png"))
    assert (tmp_path / "explorer.png").stat().st_size > 10_000
    assert page.errors == []


def test_report_loads_and_links_the_explorer(page: Any, study_dir: Path, tmp_path: Path) -> None:
    page.errors.clear()
    page.goto((study_dir / "report.html").as_uri())
    assert page.locator("h2").count() >= 1
    link = page.locator("a[href='explorer.html']")
    assert link.count() == 1
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    link.click()
    page.wait_for_selector("#files .t")
    assert page.errors == []
