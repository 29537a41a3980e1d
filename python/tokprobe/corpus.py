"""Code corpora: a file or a directory of source files, each with its language.

``load_corpus()`` with no path gives the small smoke corpus shipped in ``tokprobe/data/corpus``
(all 12 languages: original code written for tokprobe plus real files from permissively licensed
projects, each listed with its source and license in ``SOURCES.md`` / ``sources.json``; those two and
``licenses/`` are never read as corpus files). The language of a file comes from its
extension (:func:`tokprobe.lexicon.detect_language`) unless ``language=`` overrides it.
Binary files (a NUL byte in the first 8 KiB), non-UTF-8 files, empty files and files of an unknown
language are skipped and counted in ``Corpus.skipped`` — never an error, unless nothing is left
(:class:`~tokprobe.errors.EmptyInputError`).

``build_corpus()`` assembles a larger real corpus from sources on the machine (the CPython standard
library, a pygments sdist's ``tests/examplefiles``, any directory) and records provenance in
``manifest.json`` (source path, sha256 and license note of every file).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sysconfig
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import io
from ._version import __version__
from .cache import corpora_dir, sdist_dir
from .errors import EmptyInputError, FileFormatError, InputError
from .lexicon.languages import LANGUAGES, detect_language, normalize_language
from .packages import pip_download_sdist

SMOKE_CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
#: Top-level entries of the smoke corpus that describe it (provenance, license texts): never corpus files.
SMOKE_METADATA = ("SOURCES.md", "sources.json", "licenses")
_BINARY_PROBE = 8192
SKIP_REASONS = ("binary", "not_utf8", "empty", "unknown_language", "excluded_language", "unreadable", "too_large")
_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".tox", ".venv", "venv", ".mypy_cache"}


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    language: str
    text: str
    n_bytes: int
    sha256: str = ""

    @property
    def n_lines(self) -> int:
        return count_lines(self.text)


def count_lines(text: str) -> int:
    """Lines as an editor shows them: a final line without newline counts, a trailing newline adds none."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


@dataclass
class Corpus:
    files: list[CorpusFile]
    root: Path | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def languages(self) -> list[str]:
        seen = {f.language for f in self.files}
        return [lang for lang in LANGUAGES if lang in seen] + sorted(seen - set(LANGUAGES))

    @property
    def n_bytes(self) -> int:
        return sum(f.n_bytes for f in self.files)

    @property
    def digest(self) -> str:
        """sha256 over (relative path, language, file sha256) of every file: the corpus cache key."""
        h = hashlib.sha256()
        for f in self.files:
            h.update(f"{self.relpath(f)}\0{f.language}\0{f.sha256}\n".encode())
        return h.hexdigest()

    def relpath(self, f: CorpusFile) -> str:
        if self.root is not None:
            try:
                return f.path.relative_to(self.root).as_posix()
            except ValueError:
                pass
        return f.path.as_posix()

    def by_language(self) -> dict[str, list[CorpusFile]]:
        out: dict[str, list[CorpusFile]] = {}
        for f in self.files:
            out.setdefault(f.language, []).append(f)
        return {lang: out[lang] for lang in self.languages}

    def to_frame(self) -> pd.DataFrame:
        """One row per file: path (relative to the root), language, n_bytes, n_chars, n_lines, sha256."""
        return pd.DataFrame(
            {
                "path": [self.relpath(f) for f in self.files],
                "language": [f.language for f in self.files],
                "n_bytes": [f.n_bytes for f in self.files],
                "n_chars": [len(f.text) for f in self.files],
                "n_lines": [f.n_lines for f in self.files],
                "sha256": [f.sha256 for f in self.files],
            }
        )

    def balanced(self, bytes_per_language: int) -> Corpus:
        """At most ``bytes_per_language`` UTF-8 bytes of each language, whole lines, files in order.

        A budget-limited run over the first N tokens of a corpus would see only its first
        language; this keeps every language in it. A file cut short keeps its leading lines
        (and its sha256 is that of the kept text, so the corpus digest says what was used).
        """
        if bytes_per_language < 1:
            raise InputError(f"bytes per language must be >= 1, got {bytes_per_language}")
        kept: list[CorpusFile] = []
        for files in self.by_language().values():
            left = bytes_per_language
            for f in files:
                if left <= 0:
                    break
                if f.n_bytes <= left:
                    kept.append(f)
                    left -= f.n_bytes
                    continue
                lines, used = [], 0
                for line in f.text.splitlines(keepends=True):
                    n = len(line.encode("utf-8"))
                    if used + n > left:
                        break
                    lines.append(line)
                    used += n
                if lines:
                    text = "".join(lines)
                    raw = text.encode("utf-8")
                    kept.append(CorpusFile(f.path, f.language, text, len(raw), hashlib.sha256(raw).hexdigest()))
                left = 0
        return Corpus(kept, self.root, dict(self.skipped), list(self.skipped_files))

    def summary(self) -> pd.DataFrame:
        """Per language: files, bytes, lines (plus skipped counts in ``.attrs['skipped']``)."""
        df = self.to_frame()
        g = df.groupby("language", sort=False).agg(
            files=("path", "size"), n_bytes=("n_bytes", "sum"), n_lines=("n_lines", "sum")
        )
        g = g.reindex(self.languages).reset_index()
        g.attrs["skipped"] = dict(self.skipped)
        return g


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def read_source(path: Path, max_bytes: int | None = None) -> tuple[str | None, str | None, bytes]:
    """(text, skip reason, raw bytes): reason is 'binary', 'not_utf8', 'empty', 'unreadable' or 'too_large'."""
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            return None, "too_large", b""
        raw = path.read_bytes()
    except OSError:
        return None, "unreadable", b""
    if not raw:
        return None, "empty", raw
    if b"\0" in raw[:_BINARY_PROBE]:
        return None, "binary", raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not_utf8", raw
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        return None, "empty", raw
    return text, None, raw


def load_corpus(
    path: str | os.PathLike[str] | None = None,
    language: str | None = None,
    *,
    languages: Iterable[str] | None = None,
    max_file_bytes: int | None = 16 * 1024 * 1024,
) -> Corpus:
    """Load a file or directory (default: the shipped smoke corpus) as a :class:`Corpus`.

    ``path`` may also name a corpus: ``@smoke`` or bare ``smoke`` (the shipped one) or ``@pygments``
    (see :func:`corpus_root`). ``language`` overrides extension detection for every file;
    ``languages`` keeps only those languages (others are skipped as 'excluded_language').
    """
    root = corpus_root(path)
    forced = normalize_language(language) if language is not None else None
    keep = {normalize_language(lang) for lang in languages} if languages is not None else None
    if not root.exists():
        raise InputError(f"corpus path not found: {root}")
    paths = [root] if root.is_file() else list(_walk(root))
    if root.resolve() == SMOKE_CORPUS:
        paths = [p for p in paths if p.relative_to(root).parts[0] not in SMOKE_METADATA]
    files: list[CorpusFile] = []
    skipped: dict[str, int] = {}
    skipped_files: list[tuple[str, str]] = []

    def skip(p: Path, reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1
        skipped_files.append((str(p), reason))

    for p in paths:
        lang = forced or detect_language(p)
        if lang is None:
            skip(p, "unknown_language")
            continue
        if keep is not None and lang not in keep:
            skip(p, "excluded_language")
            continue
        text, reason, raw = read_source(p, max_file_bytes)
        if reason is not None:
            skip(p, reason)
            continue
        assert text is not None  # read_source gives the text whenever it gives no skip reason
        files.append(CorpusFile(p, lang, text, len(raw), hashlib.sha256(raw).hexdigest()))
    corpus = Corpus(files, root if root.is_dir() else root.parent, skipped, skipped_files)
    if not files:
        what = ", ".join(f"{n} {r}" for r, n in sorted(skipped.items())) or "no files"
        raise EmptyInputError(f"no usable source files in {root} (skipped: {what})")
    return corpus


# ----------------------------------------------------------------------------------------------
# Building a larger corpus from sources on this machine

SOURCE_LICENSES = {
    "stdlib": "CPython standard library: Python Software Foundation License Version 2 (PSF-2.0)",
    "pygments": "pygments sdist tests/examplefiles: sample files collected by the Pygments project (BSD-2-Clause "
    "for Pygments itself; each sample keeps the license of its origin, see the pygments AUTHORS/LICENSE)",
    "dir": "user-supplied directory: license as given by its owner",
}


NAMED_CORPORA = ("smoke", "pygments")
# Corpus names that also work without the '@': 'smoke' was always accepted by 'tokprobe vocab --corpus'.
BARE_CORPUS_NAMES = ("smoke",)


def corpus_root(spec: str | os.PathLike[str] | None) -> Path:
    """The file or directory a corpus argument names; the one rule for every command and API caller.

    - None, ``@smoke`` or the bare word ``smoke``: the shipped smoke corpus. The bare word always
      means the shipped corpus, in every command (``tokprobe vocab``, ``compare``, ``corpus info``,
      study configs), even when a file or directory called ``smoke`` exists: spell that one
      ``./smoke``.
    - ``@name`` (unless a path spelled exactly so exists): the named corpus, see
      :func:`named_corpus_dir` (``@pygments`` is built on first use).
    - anything else: a path (``~`` expanded). Whether it exists is checked by the caller.
    """
    if spec is None:
        return SMOKE_CORPUS
    text = os.fspath(spec)
    if text in BARE_CORPUS_NAMES:
        return named_corpus_dir(text)
    if text.startswith("@") and not Path(spec).exists():
        return named_corpus_dir(text[1:])
    return Path(spec).expanduser()


def named_corpus_dir(name: str, *, download: bool = True) -> Path:
    """Directory of a named corpus, built on first use.

    ``smoke``: the shipped smoke corpus. ``pygments``: the example files of a pygments sdist (12
    languages, none of it in the CPython standard library or the smoke corpus), so it
    is held out from what ``tokprobe variants build`` trains on. Built once into
    ``<cache>/corpora/<sdist name>`` from the sdist in the cache, downloaded with pip (PyPI) if absent.
    """
    if name == "smoke":
        return SMOKE_CORPUS
    if name != "pygments":
        raise InputError(f"unknown corpus name @{name}: known are " + ", ".join("@" + n for n in NAMED_CORPORA))
    sd = find_pygments_sdist()
    if sd is None:
        if not download:
            raise InputError("no pygments sdist in the cache for @pygments (run once with network access to PyPI)")
        sd = download_pygments_sdist(sdist_dir())
    out = corpora_dir() / sd.name[: -len(".tar.gz")]
    if not (out / "manifest.json").is_file():
        build_corpus(out, [str(sd)])
    return out


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def find_pygments_sdist(search: Iterable[str | os.PathLike[str]] = ()) -> Path | None:
    """A downloaded ``pygments-*.tar.gz`` in the given places, env TOKPROBE_SDIST's dir or ``<cache>/sdist``."""
    places = [Path(p).expanduser() for p in search]
    env = os.environ.get("TOKPROBE_SDIST")
    if env:
        places.append(Path(env).expanduser() if Path(env).is_dir() else Path(env).expanduser().parent)
    places.append(sdist_dir())
    for place in places:
        if place.is_file() and place.name.lower().startswith("pygments-") and place.name.endswith(".tar.gz"):
            return place
        if place.is_dir():
            found = sorted(place.glob("[Pp]ygments-*.tar.gz"))
            if found:
                return found[-1]
    return None


def default_build_sources(download: bool = False) -> list[str]:
    """What ``tokprobe corpus build`` reads without ``--source``: the standard library, plus pygments'
    example files when its sdist is in the cache or may be downloaded."""
    return ["stdlib", "pygments"] if (download or find_pygments_sdist()) else ["stdlib"]


def download_pygments_sdist(dest_dir: str | os.PathLike[str]) -> Path:
    """``pip download --no-deps --no-binary :all: pygments`` into ``dest_dir`` (a subprocess)."""
    return pip_download_sdist("pygments", Path(dest_dir), "[Pp]ygments-*.tar.gz", timeout=None)


def _pygments_files(where: Path) -> Iterator[tuple[str, bytes, str]]:
    try:
        with tarfile.open(where, mode="r|gz") as tar:
            for m in tar:
                if not m.isfile() or "/tests/examplefiles/" not in m.name:
                    continue
                if "/" not in m.name.split("/tests/examplefiles/", 1)[1]:
                    continue  # only the samples in the per-lexer folders, not the test harness
                lang = detect_language(m.name) or ""
                if not lang:
                    continue
                f = tar.extractfile(m)
                if f is not None:
                    yield f"{where.name}:{m.name}", f.read(), lang
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FileFormatError(f"{where}: not a readable pygments sdist ({exc})") from None


_STDLIB_SKIP = ("site-packages", "dist-packages", "test", "idlelib", "lib2to3")


def _stdlib_files(where: Path) -> Iterator[tuple[str, bytes, str]]:
    # the library itself, not its test data, site-packages or generated files
    for p in _walk(where):
        rel = p.relative_to(where).parts
        if rel and (rel[0] in _STDLIB_SKIP or "tests" in rel):
            continue
        if p.suffix == ".py":
            try:
                yield str(p), p.read_bytes(), "python"
            except OSError:
                continue


def _dir_files(where: Path) -> Iterator[tuple[str, bytes, str]]:
    for p in _walk(where):
        lang = detect_language(p)
        if lang:
            try:
                yield str(p), p.read_bytes(), lang
            except OSError:
                continue


def _iter_source_files(source: str, where: Path) -> Iterator[tuple[str, bytes, str]]:
    """(original path, bytes, language or '') of every candidate file of one source."""
    if source == "pygments":
        return _pygments_files(where)
    if source == "stdlib":
        return _stdlib_files(where)
    return _dir_files(where)


def _resolve_sources(sources: Iterable[str], download: bool) -> list[tuple[str, str, Path]]:
    """(kind, label, location) of every corpus source."""
    resolved: list[tuple[str, str, Path]] = []
    for src in sources:
        s = str(src)
        if s == "stdlib":
            resolved.append(("stdlib", "stdlib", stdlib_dir()))
        elif s == "pygments" or (s.endswith(".tar.gz") and Path(s).name.lower().startswith("pygments")):
            sd = Path(s).expanduser() if s != "pygments" else find_pygments_sdist()
            if sd is None and download:
                sd = download_pygments_sdist(sdist_dir())
            if sd is None or not sd.is_file():
                raise InputError(
                    "no pygments sdist found (looked in <cache>/sdist); run with --download or pass the .tar.gz path"
                )
            resolved.append(("pygments", "pygments", sd))
        else:
            p = Path(s).expanduser()
            if not p.is_dir():
                raise InputError(f"corpus source {s!r} is not 'stdlib', 'pygments' or a directory")
            resolved.append(("dir", re.sub(r"[^A-Za-z0-9._-]+", "_", p.resolve().name) or "dir", p))
    if not resolved:
        raise InputError("no corpus sources given")
    return resolved


def _prepare_out_dir(out: Path) -> None:
    """Create ``out``; a corpus built there before is removed first, any other content is an error."""
    if out.exists() and any(out.iterdir()):
        if not (out / "manifest.json").is_file():
            raise InputError(f"output directory {out} is not empty and is not a tokprobe corpus")
        for child in out.iterdir():  # rebuilding a corpus we made: start clean
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _skip_reason(raw: bytes, max_file_bytes: int) -> str | None:
    if len(raw) > max_file_bytes:
        return "too_large"
    if not raw.strip():
        return "empty"
    if b"\0" in raw[:_BINARY_PROBE]:
        return "binary"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not_utf8"
    return None


@dataclass
class _Copied:
    """What :func:`build_corpus` copied: manifest entries, skip counts, bytes per language."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    budget: dict[str, int] = field(default_factory=dict)


def _copy_files(
    resolved: list[tuple[str, str, Path]], out: Path, keep: set[str] | None, max_bytes_per_language: int,
    max_file_bytes: int, progress: Callable[[int, int], None] | None,
) -> _Copied:
    done = _Copied()
    used_names: set[str] = set()
    for kind, label, where in resolved:
        for orig, raw, lang in _iter_source_files(kind, where):
            if keep is not None and lang not in keep:
                continue
            reason = _skip_reason(raw, max_file_bytes)
            if reason is None and done.budget.get(lang, 0) + len(raw) > max_bytes_per_language:
                reason = "over_budget"
            if reason is not None:
                done.skipped[reason] = done.skipped.get(reason, 0) + 1
                continue
            rel_src = orig.split(":", 1)[1] if kind == "pygments" else os.path.relpath(orig, where)
            rel_src = rel_src.split("/tests/examplefiles/", 1)[-1] if kind == "pygments" else rel_src
            rel = Path(lang) / label / rel_src
            if rel.as_posix() in used_names:
                continue
            used_names.add(rel.as_posix())
            io.write_bytes(out / rel, raw)
            done.budget[lang] = done.budget.get(lang, 0) + len(raw)
            done.entries.append(
                {
                    "path": rel.as_posix(),
                    "language": lang,
                    "source": kind,
                    "source_path": orig,
                    "sha256": hashlib.sha256(raw).hexdigest(),
                    "n_bytes": len(raw),
                }
            )
            if progress is not None:
                progress(len(done.entries), 0)
    return done


def build_corpus(
    out_dir: str | os.PathLike[str],
    sources: Iterable[str] = ("stdlib", "pygments"),
    *,
    languages: Iterable[str] | None = None,
    max_bytes_per_language: int = 4 * 1024 * 1024,
    max_file_bytes: int = 512 * 1024,
    download: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Copy source files into ``out_dir/<language>/<source>/...`` and write ``out_dir/manifest.json``.

    ``sources``: 'stdlib' (CPython standard library), 'pygments' (a pygments sdist's example files:
    found in the cache, or downloaded with pip when ``download``; a path to a ``pygments-*.tar.gz``
    also works) or any directory path. Files are taken in sorted path order until a language has
    ``max_bytes_per_language`` bytes; binary, non-UTF-8, empty and oversize files are skipped and
    counted. Returns the manifest (also written to disk).
    """
    out = Path(out_dir).expanduser()
    keep = {normalize_language(lang) for lang in languages} if languages is not None else None
    resolved = _resolve_sources(sources, download)
    _prepare_out_dir(out)
    copied = _copy_files(resolved, out, keep, max_bytes_per_language, max_file_bytes, progress)
    entries = copied.entries
    if not entries:
        raise EmptyInputError("no usable source files found in the given sources")

    manifest = {
        "tokprobe_version": __version__,
        "sources": [
            {"kind": k, "name": name, "location": str(w), "license": SOURCE_LICENSES[k]} for k, name, w in resolved
        ],
        "max_bytes_per_language": max_bytes_per_language,
        "max_file_bytes": max_file_bytes,
        "languages": {
            lang: {"files": sum(1 for e in entries if e["language"] == lang), "n_bytes": b}
            for lang, b in sorted(copied.budget.items())
        },
        "skipped": copied.skipped,
        "files": entries,
    }
    io.write_json(out / "manifest.json", manifest)
    if progress is not None:
        progress(len(entries), len(entries))
    return manifest
