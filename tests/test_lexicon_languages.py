import pytest

from tokprobe.errors import InputError
from tokprobe.lexicon.keywords import shipped_languages
from tokprobe.lexicon.languages import EXTENSIONS, LANGUAGES, detect_language, normalize_language, parse_languages


def test_the_papers_twelve_languages():
    assert LANGUAGES == ("python", "java", "go", "javascript", "typescript", "c", "cpp", "csharp", "php",
                         "ruby", "rust", "jsx")
    assert shipped_languages()[:12] == list(LANGUAGES)
    assert set(EXTENSIONS.values()) == set(LANGUAGES)


@pytest.mark.parametrize("path,lang", [
    ("a/b/x.py", "python"), ("X.JAVA", "java"), ("main.go", "go"), ("app.js", "javascript"),
    ("mod.mjs", "javascript"), ("t.ts", "typescript"), ("lib.c", "c"), ("lib.h", "c"), ("m.cpp", "cpp"),
    ("m.hpp", "cpp"), ("P.cs", "csharp"), ("i.php", "php"), ("r.rb", "ruby"), ("Rakefile", "ruby"),
    ("g.rs", "rust"), ("App.jsx", "jsx"), ("App.tsx", "jsx"), ("README.md", None), ("noext", None),
])
def test_detect_language(path, lang):
    assert detect_language(path) == lang


def test_aliases_and_js_is_javascript():
    assert normalize_language("C++") == "cpp"
    assert normalize_language("c#") == "csharp"
    assert normalize_language("JS") == "javascript"
    assert normalize_language(" JavaScript ") == "javascript"
    assert normalize_language("React") == "jsx"
    assert parse_languages("python, c++ js,python") == ["python", "cpp", "javascript"]
    assert parse_languages(None) is None


@pytest.mark.parametrize("bad", ["cobol", "", "  ", None, 3])
def test_unknown_language_is_an_input_error(bad):
    with pytest.raises(InputError):
        normalize_language(bad)


def test_empty_language_list():
    with pytest.raises(InputError):
        parse_languages(" , ")
