"""The lexicon below the analyses: what tokprobe knows about languages, words and token classes.

One concept per module, shared by the corpus loader, the models layer and every analysis:

- :mod:`.languages`: canonical language names, aliases, file extensions.
- :mod:`.keywords`: keyword and operator lists per language (shipped data, user files).
- :mod:`.english`: the English control words (NLP) and the English lexicon.
- :mod:`.forms`: surface forms of a keyword (bare, space-prefixed, newline) and how a tokenizer splits them.
- :mod:`.kinds`: GGUF token kinds of vocabulary entries (``KIND_NAMES``).
- :mod:`.vocab_digest`: one base vocabulary across formats (GGUF, tokenizer.json): a digest over its bytes.
- :mod:`.token_classes`: the class of every vocabulary entry (keyword, identifier, operator, ...).
- :mod:`.source_classes`: the class of every byte of source text (pygments lexers).
"""

from __future__ import annotations

from .english import CONTROL_WORDS_FILE, english_lexicon, load_control_words
from .forms import FORMS, KEYWORD_FORMS, form_text, parse_forms, split_text
from .keywords import (
    keyword_languages,
    keyword_sources,
    load_keywords,
    load_operators,
    parse_keyword_mapping,
    shipped_languages,
)
from .kinds import KIND_NAMES, base_mask, file_token_types, kind_ids, kind_names, token_kinds
from .languages import (
    ALIASES,
    DISPLAY_NAMES,
    EXTENSIONS,
    LANGUAGES,
    detect_language,
    normalize_language,
    parse_languages,
)
from .source_classes import SOURCE_CLASSES, byte_classes, class_names, span_classes, whitespace_mask
from .token_classes import TOKEN_CLASSES, class_map, classify
from .vocab_digest import base_digest, same_vocabulary, vocabulary_groups

__all__ = [
    "ALIASES",
    "CONTROL_WORDS_FILE",
    "DISPLAY_NAMES",
    "EXTENSIONS",
    "FORMS",
    "KEYWORD_FORMS",
    "KIND_NAMES",
    "LANGUAGES",
    "SOURCE_CLASSES",
    "TOKEN_CLASSES",
    "base_digest",
    "base_mask",
    "byte_classes",
    "class_map",
    "class_names",
    "classify",
    "detect_language",
    "english_lexicon",
    "file_token_types",
    "form_text",
    "keyword_languages",
    "keyword_sources",
    "kind_ids",
    "kind_names",
    "load_control_words",
    "load_keywords",
    "load_operators",
    "normalize_language",
    "parse_forms",
    "parse_keyword_mapping",
    "parse_languages",
    "same_vocabulary",
    "shipped_languages",
    "span_classes",
    "split_text",
    "token_kinds",
    "vocabulary_groups",
    "whitespace_mask",
]
