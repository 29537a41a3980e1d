"""The package's shape, checked from its source: layers point down, llama_cpp stays in models,
imports of the package's own modules sit at module level, and no module outgrows 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "tokprobe"

# Bottom to top; a module may import its own layer's shared modules or any lower layer
# (docs/architecture.md). Analyses never import one another.
LAYERS: dict[str, float] = {
    "errors": 0, "_version": 0, "io": 0, "hashing": 0, "cache": 0, "packages": 0, "provenance": 0, "locks": 0,
    "core": 1, "_core": 1, "lexicon": 1, "bootstrap": 1,
    "models": 2, "corpus": 2,
    "vocab": 3, "coldstart": 3, "compare": 3, "codegen": 3, "variants": 3, "complete": 3,
    "explore": 3.5,  # the per-token page: reads compare run directories; the report links to it
    "report": 4, "study": 4.5,  # the study renders its report; the report only reads run directories
    "cli": 5, "__init__": 5, "__main__": 6,
    "testing": 2.5,  # tiny models and fakes: built on models, used by tests only
}
ANALYSES = {"vocab", "coldstart", "compare", "codegen", "variants", "complete"}
# Layer-0 modules that other layer-0 modules build on (io before cache, errors before all).
SHARED_BELOW = {"errors", "_version", "io", "hashing"}


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "data" not in p.relative_to(PACKAGE).parts)


def _area(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_areas(path: Path, tree: ast.Module) -> set[str]:
    out: set[str] = set()
    here = path.relative_to(PACKAGE).parent.parts
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(here[: len(here) - (node.level - 1)])
                parts = base + (node.module.split(".") if node.module else [])
                names = [parts[0]] if parts else [a.name for a in node.names]
            elif (node.module or "").startswith("tokprobe."):
                names = [node.module.split(".")[1]]  # type: ignore[union-attr]
            elif node.module == "tokprobe":
                names = [a.name for a in node.names]
            else:
                continue
            out.update(names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("tokprobe."))
    return out


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    area = _area(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for target in _imported_areas(path, tree) - {area}:
        assert target in LAYERS, f"{path.name} imports unknown area {target}"
        if area in ANALYSES:
            assert target not in ANALYSES, f"analysis {area} imports analysis {target}"
        if LAYERS[area] == 0:
            assert target in SHARED_BELOW, f"{area} (layer 0) imports {target}"
        else:
            assert LAYERS[target] < LAYERS[area] or (LAYERS[target] == LAYERS[area] == 1 and target == "_core"), (
                f"{area} (layer {LAYERS[area]}) imports {target} (layer {LAYERS[target]})"
            )


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_own_imports_at_module_level_and_llama_cpp_in_models(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    in_models = _area(path) == "models"
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom):
                    assert not (node.level or (node.module or "").startswith("tokprobe")), (
                        f"{fn.name} imports {node.module} inside a function"
                    )
    for node in ast.walk(tree):
        mods = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        for mod in mods:
            if mod.split(".")[0] == "llama_cpp":
                assert in_models, f"{path.name} imports llama_cpp outside tokprobe.models"


def test_no_module_over_600_lines() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in _sources() if (n := len(p.read_text().splitlines())) > 600}
    assert not long


def test_the_checks_see_the_package() -> None:
    # guards the checks above against a moved package (they would pass vacuously)
    assert len(_sources()) > 50
    assert "compare" in {_area(p) for p in _sources()}
