"""Balanced evidence (``--tokens-per-language``): every language measured, each from as many files as it has."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tokprobe.compare import compare
from tokprobe.compare.balance import balance_corpus, prefix_lines, water_level
from tokprobe.corpus import Corpus, CorpusFile, load_corpus
from tokprobe.errors import InputError
from tokprobe.testing import make_tiny_model


def _file(path: str, language: str, text: str) -> CorpusFile:
    raw = text.encode()
    return CorpusFile(Path(path), language, text, len(raw), hashlib.sha256(raw).hexdigest())


def _lines(n: int, width: int = 9) -> str:
    return "".join(f"{i:0{width - 1}d}\n" for i in range(n))  # every line is `width` bytes


def _by_bytes(files: list[CorpusFile]) -> list[int]:
    """A stand-in tokenizer: one scored token per 3 bytes."""
    return [f.n_bytes // 3 for f in files]


# -- the water level ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("available", "need", "level"), [
    ([100, 100, 100], 150, 50),  # three equal files share the need equally
    ([10, 100, 100], 150, 70),  # the short file is taken whole (10), the others give 70 each
    ([10, 20, 30], 100, 30),  # not enough in all: everything
    ([5, 500], 100, 95),
    ([], 10, 0),
    ([7, 7], 0, 0),
])
def test_water_level_hand_cases(available: list[int], need: int, level: int) -> None:
    assert water_level(available, need) == level
    if sum(available) > need > 0:  # the smallest level that reaches the need
        assert sum(min(a, level) for a in available) >= need > sum(min(a, level - 1) for a in available)


def test_prefix_lines_cuts_at_a_line_end() -> None:
    f = _file("a.py", "python", _lines(10))  # 90 bytes
    assert prefix_lines(f, 90) is f and prefix_lines(f, 500) is f
    cut = prefix_lines(f, 20)  # the line holding byte 20 is kept whole: 3 lines
    assert cut.text == _lines(3) and cut.n_bytes == 27
    assert cut.sha256 == hashlib.sha256(_lines(3).encode()).hexdigest()
    assert prefix_lines(f, 9).text == _lines(1)
    assert prefix_lines(f, 1).text == _lines(1)


# -- the balancer with a stand-in tokenizer -------------------------------------------------------------------
def _corpus() -> Corpus:
    files = [
        _file("py/long.py", "python", _lines(400)),  # 1200 "tokens"
        _file("py/mid.py", "python", _lines(40)),  # 120
        _file("py/short.py", "python", _lines(5)),  # 15
        _file("rs/a.rs", "rust", _lines(200)),  # 600
        _file("rs/b.rs", "rust", _lines(200)),
        _file("go/tiny.go", "go", _lines(10)),  # 30 in all: a language that runs out of text
    ]
    return Corpus(files, Path("."))


def test_every_language_gets_its_tokens_from_every_file() -> None:
    c = balance_corpus(_corpus(), 300, _by_bytes)
    got: dict[str, int] = {}
    for f, n in zip(c.files, _by_bytes(c.files), strict=True):
        got[f.language] = got.get(f.language, 0) + n
    assert got["python"] >= 300 and got["rust"] >= 300
    assert got["python"] < 300 + 3 * 3 and got["rust"] < 300 + 2 * 3  # at most one line over per file
    assert got["go"] == 30  # all it has
    names = [f.path.name for f in c.files]
    assert sorted(names) == sorted(f.path.name for f in _corpus().files)  # every file contributes
    short = next(f for f in c.files if f.path.name == "short.py")
    assert short.text == _lines(5)  # a short file is taken whole
    long = next(f for f in c.files if f.path.name == "long.py")
    assert long.text == _lines(long.text.count("\n")) and long.n_bytes < 1200  # the long one: its first lines
    # Round robin: the first file of each language, then the second ...
    order = [lang for lang in ("python", "go", "rust")]  # the shipped languages' order (tokprobe.lexicon)
    assert [f.language for f in c.files] == [*order, "python", "rust", "python"]


def test_the_balancer_raises_a_language_that_re_tokenizes_short() -> None:
    # A tokenizer whose count is not proportional to bytes: the second half of a file costs nothing, so the
    # first cut falls short and the balancer raises that language's level until the need is met.
    def half_free(files: list[CorpusFile]) -> list[int]:
        return [min(f.n_bytes, 600) // 3 for f in files]

    files = [_file("a.py", "python", _lines(400)), _file("b.py", "python", _lines(400))]
    c = balance_corpus(Corpus(files, Path(".")), 300, half_free)
    assert sum(half_free(c.files)) >= 300


def test_balance_rejects_a_non_positive_budget() -> None:
    with pytest.raises(InputError, match="at least 1"):
        balance_corpus(_corpus(), 0, _by_bytes)


def test_shipped_corpus_has_500_tokens_and_3_files_in_every_language() -> None:
    # By bytes (about 3 bytes per token of code): the shipped corpus can give the default study's budget.
    full = load_corpus()
    c = balance_corpus(full, 500, _by_bytes)
    for lang, files in c.by_language().items():
        assert len(files) >= 3, lang
        assert sum(_by_bytes(files)) >= 500, lang


# -- on a model, through compare ------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["file", "llama"])
def test_compare_balances_every_language(tmp_path: Path, tiny_model_path: Path, scheme: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "long.py").write_text("".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(120)))
    (corpus / "b.py").write_text("".join(f"y{i} = [k * {i} for k in range(3)]\n" for i in range(30)))
    (corpus / "c.rs").write_text("".join(f"fn g{i}() -> u32 {{ {i} }}\n" for i in range(60)))
    (corpus / "d.go").write_text("package main\n\nfunc add(a, b int) int { return a + b }\n")
    q = make_tiny_model(tmp_path / "b.gguf", seed=1)
    r = compare(tiny_model_path, [q], corpus, scheme=scheme, n_ctx=64, tokens_per_language=120,
                run_dir=tmp_path / f"run-{scheme}", cache_dir=tmp_path / "cache")
    windows = r.provenance.settings["windows"]
    scored: dict[str, int] = {}
    files: dict[str, int] = {}
    for f in windows["files"]:
        scored[f["language"]] = scored.get(f["language"], 0) + f["scored"]
        files[f["language"]] = files.get(f["language"], 0) + (f["scored"] > 0)
    assert scored["python"] >= 120 and scored["rust"] >= 120
    if scheme == "file":
        assert 0 < scored["go"] < 120  # all the little it has (the llama scheme may drop it in an unscored half)
        assert files["python"] == 2  # both python files contribute
        assert scored["python"] < 200  # and not the whole long file
    assert r.provenance.settings["tokens_per_language"] == 120
