"""English word lists: the fixed control words (the NLP measure) and the lexicon of English words.

Shipped data: ``tokprobe/data/english_control_words.txt`` (one word a line, ``#`` comments; source
noted in its header) and ``tokprobe/data/english_lexicon.txt.gz`` (SCOWL, see
``data/LICENSE-SCOWL.txt``).
"""

from __future__ import annotations

import gzip
import os
import re
from functools import lru_cache
from pathlib import Path

from ..errors import EmptyInputError, FileFormatError
from .keywords import DATA_DIR

CONTROL_WORDS_FILE = DATA_DIR / "english_control_words.txt"
LEXICON_FILE = DATA_DIR / "english_lexicon.txt.gz"


def load_control_words(path: str | os.PathLike[str] | None = None) -> list[str]:
    """The fixed English control word list for NLP (one word a line, '#' comments)."""
    p = Path(path) if path is not None else CONTROL_WORDS_FILE
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"control word file {p}: unreadable ({exc.__class__.__name__})") from None
    words = [w.strip() for w in lines if w.strip() and not w.lstrip().startswith("#")]
    if not words:
        raise EmptyInputError(f"control word file {p} has no words")
    return list(dict.fromkeys(words))


@lru_cache(maxsize=1)
def english_lexicon() -> frozenset[str]:
    """Lower-case ASCII English words (SCOWL size-50 'american-english', see data/LICENSE-SCOWL.txt).

    Used by the token classifier to tell natural-language words from identifier fragments.
    """
    with gzip.open(LEXICON_FILE, "rt", encoding="utf-8") as f:
        return frozenset(w for w in f.read().split() if re.fullmatch(r"[a-z]+", w))
