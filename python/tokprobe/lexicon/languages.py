"""Programming languages tokprobe knows: canonical names, aliases and file extensions.

Defined once here and shared by the corpus loader and every analysis (keyword lists, breakdowns).
The canonical names are the keys of the keyword data files (``tokprobe/data/keywords/<name>.json``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError

#: Canonical language names, in the paper's order (React/JSX last).
LANGUAGES: tuple[str, ...] = (
    "python",
    "java",
    "go",
    "javascript",
    "typescript",
    "c",
    "cpp",
    "csharp",
    "php",
    "ruby",
    "rust",
    "jsx",
)

#: Human-readable names.
DISPLAY_NAMES: dict[str, str] = {
    "python": "Python",
    "java": "Java",
    "go": "Go",
    "javascript": "JavaScript",
    "typescript": "TypeScript",
    "c": "C",
    "cpp": "C++",
    "csharp": "C#",
    "php": "PHP",
    "ruby": "Ruby",
    "rust": "Rust",
    "jsx": "React/JSX",
}

#: Accepted spellings -> canonical name (matching is case-insensitive).
ALIASES: dict[str, str] = {
    "py": "python", "python3": "python",
    "golang": "go",
    "js": "javascript", "ecmascript": "javascript", "node": "javascript",
    "ts": "typescript",
    "c++": "cpp", "cxx": "cpp", "cplusplus": "cpp",
    "c#": "csharp", "cs": "csharp", "c-sharp": "csharp",
    "rb": "ruby",
    "rs": "rust",
    "react": "jsx", "tsx": "jsx", "react/jsx": "jsx",
}

#: File extension (lower case, with dot) -> language. ``.h`` is taken as C; ``.tsx`` as React/JSX.
EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".java": "java",
    ".go": "go",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".c": "c", ".h": "c",
    ".cpp": "cpp", ".cc": "cpp", ".cxx": "cpp", ".c++": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
    ".h++": "cpp", ".ipp": "cpp", ".tpp": "cpp",
    ".cs": "csharp",
    ".php": "php", ".phtml": "php",
    ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby",
    ".rs": "rust",
    ".jsx": "jsx", ".tsx": "jsx",
}

#: Whole file names that identify a language.
FILENAMES: dict[str, str] = {"Rakefile": "ruby", "Gemfile": "ruby"}


def normalize_language(name: str, known: tuple[str, ...] | list[str] | set[str] | None = None) -> str:
    """Canonical name of ``name`` ('C++' -> 'cpp', 'JS' -> 'javascript'); InputError when unknown.

    ``known``: extra canonical names accepted as they are (e.g. languages of a user keyword file).
    """
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"language name must be a non-empty string, got {name!r}")
    key = name.strip().lower()
    if key in LANGUAGES:
        return key
    if key in ALIASES:
        return ALIASES[key]
    if known and key in {k.lower() for k in known}:
        return key
    raise InputError(f"unknown language {name!r}; known: {', '.join(LANGUAGES)}")


def parse_languages(spec: str | list[str] | tuple[str, ...] | None) -> list[str] | None:
    """'python,c++ js' or a list -> canonical names (order kept, duplicates dropped); None stays None."""
    if spec is None:
        return None
    if isinstance(spec, str):
        items = spec.replace(",", " ").split()
    else:
        items = [s for part in spec for s in str(part).replace(",", " ").split()]
    out: list[str] = []
    for item in items:
        lang = normalize_language(item)
        if lang not in out:
            out.append(lang)
    if not out:
        raise InputError("empty language list")
    return out


def detect_language(path: str | os.PathLike[str]) -> str | None:
    """Language of a source file from its extension (or well-known file name); None when unknown."""
    p = Path(path)
    if p.name in FILENAMES:
        return FILENAMES[p.name]
    return EXTENSIONS.get(p.suffix.lower())
