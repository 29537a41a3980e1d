"""How a corpus argument names a corpus: one rule for every command (tokprobe.corpus.corpus_root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokprobe.corpus import SMOKE_CORPUS, corpus_root


def test_none_at_smoke_and_bare_smoke_are_the_shipped_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke").mkdir()  # the bare word wins over a directory of that name: './smoke' reaches that one
    assert corpus_root(None) == corpus_root("@smoke") == corpus_root("smoke") == corpus_root(Path("smoke"))
    assert corpus_root("smoke") == SMOKE_CORPUS
    assert corpus_root("./smoke") == Path("./smoke")


def test_other_names_are_paths(tmp_path: Path) -> None:
    assert corpus_root(str(tmp_path)) == tmp_path
    assert corpus_root("pygments") == Path("pygments")  # only '@pygments' names the held-out corpus
