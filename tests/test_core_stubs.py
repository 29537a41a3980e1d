"""python/tokprobe/_core.pyi against the compiled tokprobe._core: the same names, parameters and return kinds.

pybind11 leaves ``__text_signature__`` empty and writes the signature as the first line of ``__doc__``
(``name(a: object, b: int = None) -> dict``); that line is what the stubs are compared with.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import tokprobe
from tokprobe import _core

STUB = Path(tokprobe.__file__).with_name("_core.pyi")
_SIGNATURE = re.compile(r"^(?P<name>\w+)\((?P<params>.*)\) -> (?P<ret>.+)$")


def _stub_functions() -> dict[str, ast.FunctionDef]:
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def _stub_names() -> set[str]:
    """Names the stub declares for the module (type aliases starting with '_' + capital are stub-only)."""
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    names = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    for node in tree.body:
        if isinstance(node, (ast.AnnAssign, ast.Assign)):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            names |= {t.id for t in targets if isinstance(t, ast.Name) and not re.match(r"_[A-Z]", t.id)}
    return names


def _module_names() -> set[str]:
    return {n for n in dir(_core) if not n.startswith("__")}


def _split_params(text: str) -> list[str]:
    """Split a parameter list at top-level commas (annotations may hold brackets with commas)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def _native_signature(name: str) -> tuple[list[tuple[str, str | None]], str]:
    """([(parameter, default or None)], return kind) from the function's pybind11 docstring."""
    fn = getattr(_core, name)
    first = (fn.__doc__ or "").splitlines()[0] if fn.__doc__ else ""
    m = _SIGNATURE.match(first)
    assert m and m.group("name") == name, f"_core.{name} has no pybind11 signature line: {first!r}"
    params = []
    for p in _split_params(m.group("params")):
        head, _, default = p.partition(" = ")
        params.append((head.split(":")[0].strip(), default.strip() or None))
    return params, _kind(m.group("ret"))


def _kind(annotation: str) -> str:
    """The outer type of an annotation, without module or parameters: 'numpy.typing.NDArray[x]' -> 'NDArray'."""
    return annotation.strip().split("[")[0].split(".")[-1]


def _stub_signature(fn: ast.FunctionDef) -> tuple[list[tuple[str, str | None]], str]:
    args = fn.args
    assert not (args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs), f"{fn.name}: plain parameters only"
    defaults = [None] * (len(args.args) - len(args.defaults)) + [ast.unparse(d) for d in args.defaults]
    params = [(a.arg, d) for a, d in zip(args.args, defaults, strict=True)]
    assert fn.returns is not None, f"{fn.name}: no return annotation"
    return params, _kind(ast.unparse(fn.returns))


_RETURN_ALIASES = {"_Moments": "tuple"}


def test_stub_and_module_declare_the_same_names():
    module, stub = _module_names(), _stub_names()
    assert sorted(module - stub) == [], "in tokprobe._core but missing from _core.pyi"
    assert sorted(stub - module) == [], "in _core.pyi but not in tokprobe._core"


@pytest.mark.parametrize("name", sorted(n for n in _module_names() if callable(getattr(_core, n))))
def test_stub_signature_matches_the_binding(name):
    stub = _stub_functions()
    assert name in stub, f"_core.pyi has no function {name}"
    native_params, native_ret = _native_signature(name)
    stub_params, stub_ret = _stub_signature(stub[name])
    assert [p for p, _ in stub_params] == [p for p, _ in native_params], "parameter names or order differ"
    assert [d for _, d in stub_params] == [d for _, d in native_params], "defaults differ"
    assert _RETURN_ALIASES.get(stub_ret, stub_ret) == native_ret, "return kinds differ"


def test_stub_ships_next_to_the_package_with_py_typed():
    assert STUB.is_file()
    assert STUB.with_name("py.typed").is_file()
