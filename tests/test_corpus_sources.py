"""The real files of the shipped smoke corpus: each one listed with its source and license, byte-exact."""

import hashlib
import json

from tokprobe.corpus import SMOKE_CORPUS, SMOKE_METADATA, load_corpus
from tokprobe.lexicon.languages import LANGUAGES

PERMISSIVE = {"MIT", "BSD-3-Clause", "Apache-2.0", "PSF-2.0", "MIT OR Apache-2.0"}
FIELDS = {"path", "language", "project", "version", "package", "original_path", "license", "copyright",
          "license_file", "n_lines", "n_bytes", "sha256"}


def _sources() -> list[dict]:
    return json.loads((SMOKE_CORPUS / "sources.json").read_text(encoding="utf-8"))["files"]


def test_every_real_file_is_listed_with_source_and_license():
    entries = _sources()
    assert len(entries) == 36 and len({e["path"] for e in entries}) == 36
    per_lang = {lang: sum(e["language"] == lang for e in entries) for lang in LANGUAGES}
    assert per_lang == {lang: 3 for lang in LANGUAGES}
    table = (SMOKE_CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    for e in entries:
        assert FIELDS <= set(e), e["path"]
        assert e["license"] in PERMISSIVE, e["path"]
        raw = (SMOKE_CORPUS / e["path"]).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == e["sha256"], e["path"]
        assert len(raw) == e["n_bytes"] and raw.count(b"\n") == e["n_lines"] and raw.endswith(b"\n")
        assert 40 <= e["n_lines"] <= 200, e["path"]
        assert (SMOKE_CORPUS / e["license_file"]).is_file(), e["license_file"]
        assert e["package"].split()[0] in {"PyPI", "npm", "Debian", "python.org"}, e["package"]
        assert f"| `{e['path']}` | {e['n_lines']} | {e['n_bytes']} |" in table


def test_metadata_is_never_read_as_corpus():
    c = load_corpus()
    assert c.skipped == {} and c.skipped_files == []
    rel = {c.relpath(f) for f in c.files}
    assert len(rel) == 61 and not any(r.split("/")[0] in SMOKE_METADATA for r in rel)
    assert {e["path"] for e in _sources()} <= rel
    # Each corpus file sits in the directory of its own language.
    assert all(c.relpath(f).split("/")[0] == f.language for f in c.files)
    # (pip byte-compiles the corpus's .py files when it installs the package: __pycache__ is no corpus file)
    on_disk = sorted(p.relative_to(SMOKE_CORPUS).as_posix() for p in SMOKE_CORPUS.rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts)
    assert sorted(rel) == [r for r in on_disk if r.split("/")[0] not in SMOKE_METADATA]
    assert len(on_disk) - len(rel) == 2 + len(list((SMOKE_CORPUS / "licenses").iterdir()))


def test_metadata_names_are_skipped_only_in_the_shipped_corpus(tmp_path):
    (tmp_path / "licenses").mkdir()
    (tmp_path / "licenses" / "tool.py").write_text("x = 1\n")
    (tmp_path / "sources.json").write_text("{}\n")
    c = load_corpus(tmp_path)
    assert [c.relpath(f) for f in c.files] == ["licenses/tool.py"]
    assert c.skipped == {"unknown_language": 1}
