"""Syntactic validity of a file with a completion spliced in: tree-sitter, for all 12 languages.

The grammars come prebuilt in the ``tree-sitter-language-pack`` wheel (0.13.0 ships one compiled
module per grammar and C# through ``tree-sitter-c-sharp``; nothing is downloaded at run time).
A parse never fails in tree-sitter: syntax errors become ``ERROR`` nodes and ``MISSING`` nodes, and
their count is the file's error count. A completion is **valid** when the spliced file has no more
errors than the original file (so a file that already has errors is compared with its own count).
For Python, :func:`python_ast_ok` (the standard library's ``ast``) is a cross-check, and part of
validity: tree-sitter's Python grammar tolerates indentation errors (a block opener left without
its block, an orphaned indented block) that Python rejects, so a Python completion is valid only
when ``ast`` also accepts the spliced file (for a file that ``ast`` accepts itself).
"""

from __future__ import annotations

import ast
import warnings
from functools import cache
from typing import Any

from ..errors import Error

#: tokprobe language -> tree-sitter-language-pack grammar (React/JSX: the JavaScript grammar parses JSX;
#: a ``.tsx`` file gets the TSX grammar).
GRAMMARS: dict[str, str] = {
    "python": "python", "java": "java", "go": "go", "javascript": "javascript", "typescript": "typescript",
    "c": "c", "cpp": "cpp", "csharp": "csharp", "php": "php", "ruby": "ruby", "rust": "rust", "jsx": "javascript",
}


class GrammarError(Error):
    """A tree-sitter grammar could not be loaded."""


def grammar_for(language: str, path: str = "") -> str:
    """The grammar name for a file of ``language`` (``path`` tells ``.tsx`` from ``.jsx``)."""
    if language == "jsx" and path.endswith(".tsx"):
        return "tsx"
    try:
        return GRAMMARS[language]
    except KeyError:
        raise GrammarError(f"no tree-sitter grammar for language {language!r}") from None


@cache
def parser(grammar: str) -> Any:
    """A tree-sitter parser for ``grammar`` (cached per process); :class:`GrammarError` if it fails to load."""
    try:
        import tree_sitter_language_pack as tslp  # lazy: loads compiled grammars
    except ImportError as exc:
        raise GrammarError(f"tree-sitter-language-pack is not installed: {exc}") from None
    try:
        return tslp.get_parser(grammar)  # type: ignore[arg-type]  # a str; the package types a Literal of names
    except (LookupError, ValueError, OSError) as exc:
        raise GrammarError(f"the tree-sitter grammar {grammar!r} failed to load: {exc}") from None


def error_count(source: str | bytes, grammar: str) -> int:
    """ERROR plus MISSING nodes in the tree-sitter parse of ``source``."""
    data = source.encode("utf-8", "surrogateescape") if isinstance(source, str) else source
    tree = parser(grammar).parse(data)
    root = tree.root_node
    if not root.has_error:
        return 0
    n = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            n += 1
        if node.has_error:
            stack.extend(node.children)
    return n


def splice(source: bytes, start: int, end: int, completion: str) -> bytes:
    """``source`` with the bytes [start, end) replaced by ``completion``."""
    return source[:start] + completion.encode("utf-8", "surrogateescape") + source[end:]


def python_ast_ok(source: str | bytes) -> bool:
    """Whether Python's own parser accepts ``source``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in generated code warn
            ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True
