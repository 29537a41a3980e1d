import io as _io
import json
import tarfile

import pytest

from tokprobe.errors import FileFormatError, InputError
from tokprobe.vocab import fetch


def make_sdist(path, names=("qwen2", "llama-bpe"), extra=()):
    with tarfile.open(path, "w:gz") as tar:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, _io.BytesIO(data))

        root = "llama_cpp_python-0.3.36/vendor/llama.cpp/models/"
        for n in names:
            add(root + f"ggml-vocab-{n}.gguf", b"GGUF" + n.encode())
            add(root + f"ggml-vocab-{n}.gguf.inp", b"inputs")
        add("llama_cpp_python-0.3.36/README.md", b"readme")
        for name, data in extra:
            add(name, data)
    return path


def test_extract_and_address_by_short_name(tmp_path):
    sdist = make_sdist(tmp_path / fetch.SDIST_FILENAME)
    cache = tmp_path / "cache" / "vocabs"
    got = fetch.fetch_vocabs(sdist=sdist, cache_dir=cache)
    assert list(got) == ["llama-bpe", "qwen2"]
    assert sorted(p.name for p in cache.iterdir()) == [
        "MANIFEST.json", "ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf"]
    assert fetch.vocab_path("qwen2", cache) == cache / "ggml-vocab-qwen2.gguf"
    assert fetch.vocab_path("ggml-vocab-qwen2.gguf", cache) == cache / "ggml-vocab-qwen2.gguf"
    assert fetch.vocab_path("starcoder", cache) is None
    assert fetch.vocab_path("../etc/passwd", cache) is None
    rows = fetch.list_vocabs(cache)
    assert [r["name"] for r in rows] == ["llama-bpe", "qwen2"]
    assert rows[1]["description"].startswith("Qwen2") and len(rows[1]["sha256"]) == 64
    manifest = json.loads((cache / "MANIFEST.json").read_text())
    assert manifest["sdist"] == fetch.SDIST_FILENAME and len(manifest["sdist_sha256"]) == 64
    # idempotent; progress callback sees every file
    seen = []
    fetch.fetch_vocabs(sdist=tmp_path, cache_dir=cache, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (2, 2)


def test_sdist_found_in_cache_without_download(tmp_path, monkeypatch):
    monkeypatch.delenv("TOKPROBE_SDIST", raising=False)
    root = tmp_path / "cache"
    (root / "sdist").mkdir(parents=True)
    make_sdist(root / "sdist" / fetch.SDIST_FILENAME, names=("gpt-2",))
    monkeypatch.setattr(fetch, "download_sdist", lambda d: pytest.fail("must not download"))
    assert list(fetch.fetch_vocabs(cache_dir=root / "vocabs")) == ["gpt-2"]


def test_env_sdist(tmp_path, monkeypatch):
    make_sdist(tmp_path / fetch.SDIST_FILENAME, names=("mpt",))
    monkeypatch.setenv("TOKPROBE_SDIST", str(tmp_path))
    assert fetch.find_sdist(tmp_path / "c" / "vocabs") == tmp_path / fetch.SDIST_FILENAME


def test_bad_inputs(tmp_path, monkeypatch):
    monkeypatch.delenv("TOKPROBE_SDIST", raising=False)
    monkeypatch.setenv("TOKPROBE_CACHE", str(tmp_path / "cache"))  # no sdist downloaded by another test
    with pytest.raises(InputError):
        fetch.fetch_vocabs(sdist=tmp_path / "missing.tar.gz", cache_dir=tmp_path / "v")
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"this is not gzip")
    with pytest.raises(FileFormatError):
        fetch.fetch_vocabs(sdist=bad, cache_dir=tmp_path / "v")
    empty = make_sdist(tmp_path / "empty.tar.gz", names=())
    with pytest.raises(FileFormatError, match="no vendor"):
        fetch.fetch_vocabs(sdist=empty, cache_dir=tmp_path / "v")
    with pytest.raises(FileFormatError, match="downloading is off"):
        fetch.fetch_vocabs(cache_dir=tmp_path / "nowhere" / "vocabs", download=False)


def test_download_failure_is_a_one_line_error(tmp_path, monkeypatch):
    import subprocess

    class R:
        returncode = 1
        stdout = ""
        stderr = "ERROR: network unreachable\n"

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: R())
    with pytest.raises(FileFormatError, match="network unreachable"):
        fetch.download_sdist(tmp_path)


def test_cli_vocabs_list_and_fetch(tmp_path, capsys):
    from tokprobe.cli import main

    with pytest.raises(SystemExit) as e:
        main(["vocabs", "list", "--cache-dir", str(tmp_path / "none"), "-f", "csv"])
    assert e.value.code == 0
    assert "run 'tokprobe vocabs fetch'" in capsys.readouterr().err
    sdist = make_sdist(tmp_path / fetch.SDIST_FILENAME)
    with pytest.raises(SystemExit) as e:
        main(["vocabs", "fetch", "--sdist", str(sdist), "--cache-dir", str(tmp_path / "v"), "--no-npm", "-f", "json"])
    assert e.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in out] == ["llama-bpe", "qwen2"]
    with pytest.raises(SystemExit) as e:
        main(["vocabs", "fetch", "--sdist", str(tmp_path / "nope.tar.gz"), "--cache-dir", str(tmp_path / "v")])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: --sdist")
