"""Splice-and-parse with tree-sitter: known-valid and known-broken completions in several languages."""

from __future__ import annotations

import pytest

from tokprobe.complete import GRAMMARS, GrammarError, error_count, grammar_for, python_ast_ok, splice
from tokprobe.complete.syntax import parser

# (language, file, the line to replace, a valid replacement, a broken replacement)
CASES = [
    ("python", "def f(x):\n    y = x + 1\n    return y\n", "y = x + 1", "y = x * 2", "y = (x +"),
    ("c", "int f(int x) {\n  int y = x + 1;\n  return y;\n}\n", "int y = x + 1;", "int y = x * 2;", "int y = (x + ;"),
    ("go", "package m\n\nfunc f(x int) int {\n\ty := x + 1\n\treturn y\n}\n", "y := x + 1", "y := x * 2",
     "y := x +) {"),
    ("rust", "fn f(x: i32) -> i32 {\n    let y = x + 1;\n    y\n}\n", "let y = x + 1;", "let y = x * 2;",
     "let y = {x + 1;"),
    ("java", "class A {\n  int f(int x) {\n    int y = x + 1;\n    return y;\n  }\n}\n", "int y = x + 1;",
     "int y = x * 2;", "int y = x + 1; }"),
    ("javascript", "function f(x) {\n  const y = x + 1;\n  return y;\n}\n", "const y = x + 1;", "const y = x * 2;",
     "const y = (x + 1;"),
    ("ruby", "def f(x)\n  y = x + 1\n  y\nend\n", "y = x + 1", "y = x * 2", "y = x + 1 end end"),
    ("php", "<?php\nfunction f($x) {\n  $y = $x + 1;\n  return $y;\n}\n", "$y = $x + 1;", "$y = $x * 2;",
     "$y = ($x + 1;"),
]


@pytest.mark.parametrize(("language", "src", "line", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_valid_and_broken_completions(language: str, src: str, line: str, good: str, bad: str) -> None:
    g = grammar_for(language)
    data = src.encode()
    start = data.index(line.encode())
    end = start + len(line.encode())
    assert error_count(data, g) == 0
    assert error_count(splice(data, start, end, good), g) == 0
    assert error_count(splice(data, start, end, bad), g) > 0


def test_a_file_with_errors_is_measured_against_its_own_count() -> None:
    src = b"def f(x):\n    y = (x +\n    return y\n"
    before = error_count(src, "python")
    assert before > 0
    start = src.index(b"return y")
    assert error_count(splice(src, start, start + 8, "return x"), "python") <= before


def test_every_language_has_a_grammar_that_loads() -> None:
    for language in GRAMMARS:
        assert error_count(b"", grammar_for(language)) == 0
    assert grammar_for("jsx", "a/b.tsx") == "tsx" and grammar_for("jsx", "a/b.jsx") == "javascript"
    assert error_count(b"const a = <div>{x}</div>;\n", grammar_for("jsx", "x.tsx")) == 0


def test_missing_grammars_are_grammar_errors() -> None:
    with pytest.raises(GrammarError, match="no tree-sitter grammar"):
        grammar_for("cobol")
    with pytest.raises(GrammarError, match="failed to load"):
        parser("no-such-grammar")


def test_python_ast_cross_check() -> None:
    assert python_ast_ok("def f(x):\n    return x\n")
    assert not python_ast_ok("def f(x):\n    return (x\n")
    assert python_ast_ok('s = "\\d"\n')  # an invalid escape only warns


def test_tree_sitter_tolerates_what_python_rejects() -> None:
    # a block opener left without its block: no tree-sitter error, but not Python (why validity also asks ast)
    src = "def f(s):\n    if s > 0:\n    return s\n"
    assert error_count(src, "python") == 0
    assert not python_ast_ok(src)
