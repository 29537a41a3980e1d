import json

import pytest

from tokprobe.corpus import SMOKE_CORPUS, build_corpus, count_lines, load_corpus
from tokprobe.errors import EmptyInputError, InputError
from tokprobe.lexicon.languages import LANGUAGES


def test_smoke_corpus_has_every_language():
    c = load_corpus()
    assert c.languages == list(LANGUAGES)
    assert c.skipped == {}
    for lang, files in c.by_language().items():
        assert len(files) == (6 if lang == "python" else 5), lang  # 2-3 written for tokprobe + 3 real (SOURCES.md)
        for f in files:
            assert 40 <= f.n_lines <= 200, (f.path, f.n_lines)
            assert f.n_bytes == len(f.text.encode("utf-8"))
    df = c.to_frame()
    assert list(df.columns) == ["path", "language", "n_bytes", "n_chars", "n_lines", "sha256"]
    assert len(df) == len(c.files)
    assert len(c.digest) == 64 and c.digest == load_corpus().digest


def test_count_lines():
    assert count_lines("") == 0
    assert count_lines("a") == 1
    assert count_lines("a\n") == 1
    assert count_lines("a\nb") == 2


def test_bad_files_are_skipped_and_counted(tmp_path):
    (tmp_path / "ok.py").write_text("def f():\n    return 1\n")
    (tmp_path / "bin.py").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "latin1.rb").write_bytes("puts 'caf\xe9'\n".encode("latin-1"))
    (tmp_path / "empty.go").write_text("")
    (tmp_path / "blank.c").write_text("\n \n")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".hidden.py").write_text("x = 1")
    sub = tmp_path / "__pycache__"
    sub.mkdir()
    (sub / "x.py").write_text("y = 2")
    c = load_corpus(tmp_path)
    assert [f.path.name for f in c.files] == ["ok.py"]
    assert c.skipped == {"binary": 1, "not_utf8": 1, "empty": 2, "unknown_language": 1}
    assert len(c.skipped_files) == 5


def test_language_override_and_filter(tmp_path):
    (tmp_path / "script").write_text("echo hi\n")
    (tmp_path / "a.py").write_text("x = 1\n")
    c = load_corpus(tmp_path, language="ruby")
    assert {f.language for f in c.files} == {"ruby"} and len(c.files) == 2
    c = load_corpus(tmp_path / "a.py", language="Python")
    assert c.files[0].language == "python"
    c = load_corpus(SMOKE_CORPUS, languages=["js", "rust"])
    assert c.languages == ["javascript", "rust"]
    assert c.skipped["excluded_language"] > 0


def test_bom_is_dropped(tmp_path):
    (tmp_path / "b.py").write_bytes(b"\xef\xbb\xbfx = 1\n")
    assert load_corpus(tmp_path).files[0].text == "x = 1\n"


def test_empty_corpus_errors(tmp_path):
    with pytest.raises(EmptyInputError):
        load_corpus(tmp_path)
    (tmp_path / "x.bin").write_bytes(b"\x00" * 10)
    with pytest.raises(EmptyInputError, match="skipped"):
        load_corpus(tmp_path, language="c")
    with pytest.raises(InputError):
        load_corpus(tmp_path / "missing")
    with pytest.raises(InputError):
        load_corpus(tmp_path, language="klingon")


def test_build_corpus_from_a_directory_and_stdlib(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.rs").write_text("fn main() {}\n")
    (src / "b.go").write_text("package main\n")
    (src / "c.go").write_bytes(b"\xff\xfe bad")
    (src / "d.txt").write_text("not code")
    out = tmp_path / "corpus"
    m = build_corpus(out, ["stdlib", str(src)], max_bytes_per_language=20_000)
    assert (out / "manifest.json").is_file()
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["files"] == m["files"]
    langs = {e["language"] for e in m["files"]}
    assert langs == {"python", "rust", "go"}
    assert m["languages"]["python"]["n_bytes"] <= 20_000
    assert m["skipped"]["not_utf8"] == 1
    for e in m["files"]:
        assert (out / e["path"]).is_file() and len(e["sha256"]) == 64
    assert any("PSF" in s["license"] for s in m["sources"])
    c = load_corpus(out)
    assert set(c.languages) == {"python", "rust", "go"}
    assert c.skipped == {"unknown_language": 1}  # the manifest itself
    # rebuilding into the same directory replaces it
    m2 = build_corpus(out, [str(src)])
    assert {e["language"] for e in m2["files"]} == {"rust", "go"}


def test_build_corpus_bad_input(tmp_path):
    with pytest.raises(InputError):
        build_corpus(tmp_path / "o", ["/definitely/not/here"])
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        build_corpus(tmp_path / "busy", ["stdlib"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EmptyInputError):
        build_corpus(tmp_path / "o2", [str(empty)])


def run_cli(args, capsys):
    from tokprobe.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    cap = capsys.readouterr()
    return exc.value.code, cap.out, cap.err


def test_cli_corpus_info(capsys, tmp_path):
    code, out, err = run_cli(["corpus", "info", "--format", "csv"], capsys)
    assert code == 0
    assert out.splitlines()[0] == "language,files,n_bytes,n_lines"
    assert len(out.splitlines()) == 13
    code, out, err = run_cli(["corpus", "info", str(tmp_path)], capsys)
    assert code == 2 and err.startswith("error: no usable source files")
    code, out, err = run_cli(["corpus", "info", "--language", "cobol"], capsys)
    assert code == 2 and "unknown language" in err


def test_cli_corpus_build(capsys, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "x.php").write_text("<?php echo 1;\n")
    code, out, err = run_cli(["corpus", "build", str(tmp_path / "out"), "--source", str(src), "-f", "json"], capsys)
    assert code == 0, err
    assert json.loads(out) == [{"language": "php", "files": 1, "n_bytes": 14}]


def _fake_pygments_sdist(where, version="9.8", files=None):
    """A pygments-<version>.tar.gz with the given (path inside the sdist, bytes) members."""
    import io as _io
    import tarfile

    files = files or [("tests/examplefiles/go/main.go", b"package main\nfunc main() {}\n"),
                      ("tests/examplefiles/c/a.c", b"int main(void) { return 0; }\n")]
    sd = where / f"pygments-{version}.tar.gz"
    with tarfile.open(sd, "w:gz") as tar:
        for name, data in files:
            info = tarfile.TarInfo(f"pygments-{version}/{name}")
            info.size = len(data)
            tar.addfile(info, _io.BytesIO(data))
    return sd


def test_build_corpus_from_a_pygments_sdist(tmp_path):
    sd = _fake_pygments_sdist(tmp_path, "9.9", [
        ("tests/examplefiles/python/example.py", b"print('hi')\n"),
        ("tests/examplefiles/python/example.py.output", b"tokens"),
        ("tests/examplefiles/rust/main.rs", b"fn main() {}\n"),
        ("tests/examplefiles/conftest.py", b"import pytest\n"),
        ("pygments/lexer.py", b"class Lexer: pass\n"),
    ])
    m = build_corpus(tmp_path / "out", [str(sd)])
    assert sorted(e["path"] for e in m["files"]) == ["python/pygments/python/example.py", "rust/pygments/rust/main.rs"]
    assert m["files"][0]["source_path"].startswith("pygments-9.9.tar.gz:")
    assert "Pygments" in m["sources"][0]["license"]


def test_named_corpora_build_once_into_the_cache(tmp_path, monkeypatch):
    from tokprobe import corpus as corpus_mod

    monkeypatch.setenv("TOKPROBE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TOKPROBE_SDIST", str(_fake_pygments_sdist(tmp_path)))
    assert load_corpus("@smoke").digest == load_corpus().digest
    c = load_corpus("@pygments")
    assert sorted(c.languages) == ["c", "go"]
    built = tmp_path / "cache" / "corpora" / "pygments-9.8"
    assert (built / "manifest.json").is_file() and c.root == built
    calls = []
    monkeypatch.setattr(corpus_mod, "build_corpus", lambda *a, **k: calls.append(a))
    assert load_corpus("@pygments").digest == c.digest and calls == []  # second use: no rebuild


def test_unknown_corpus_name_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="unknown corpus name @nope"):
        load_corpus("@nope")


def test_study_config_keeps_named_corpora(tmp_path):
    from tokprobe.study.config import load_config

    cfg = tmp_path / "s.toml"
    group = '[[groups]]\ntechnique = "quantization"\nreference = "a.gguf"\nvariants = ["b.gguf"]\n'
    cfg.write_text(group + '[compare]\ncorpus = "@pygments"\n')
    assert load_config(cfg).compare.corpus == "@pygments"
    cfg.write_text(group + '[compare]\ncorpus = "code"\n')
    assert load_config(cfg).compare.corpus == str((tmp_path / "code").resolve())
