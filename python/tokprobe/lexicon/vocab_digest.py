"""One base vocabulary across file formats: a digest over its byte strings.

A GGUF file and a Hugging Face ``tokenizer.json`` of the same tokenizer differ in their added and
padding entries (Qwen2's GGUF has 151,936 entries, Qwen's tokenizer.json 151,669) and in how they
spell pieces, but their base vocabularies are the same bytes in the same id order. ``base_digest``
hashes exactly that: sha256 over the bytes of the text entries (kind normal or byte: the GGUF file's
token types, or for tokenizer.json the model vocabulary's entries that are not also added/special
tokens), each NUL-terminated, in id order. Special entries inside a tokenizer.json's model vocabulary
(DeepSeek-V3's ids 0-2, Gemma 3's ``<unusedN>``) are left out of the digest although the paper's base
counts include them, because a GGUF types them as control entries. So the ``qwen2`` GGUF and the
Qwen3/Qwen2.5 tokenizer.json get one digest, as do ``gemma3-270m`` and Gemma 3's tokenizer.json, and
:func:`vocabulary_groups` reports each pair as one vocabulary. It lives in the lexicon layer, below the
analyses, so that any of them (vocab, compare, coldstart) can tell whether two models' vocabularies are one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from .kinds import base_mask, token_kinds


def base_digest(vocab: Any) -> str:
    """sha256 (hex) over the text entries' byte strings (kind normal or byte), NUL-terminated, in id order."""
    h = hashlib.sha256()
    for b, base in zip(vocab.token_bytes, base_mask(vocab, token_kinds(vocab)).tolist(), strict=True):
        if base:
            h.update(bytes(b) + b"\0")
    return h.hexdigest()


def same_vocabulary(a: Any, b: Any) -> bool:
    """Whether two vocabularies (GGUF or tokenizer.json, any mix) have the same base vocabulary."""
    return base_digest(a) == base_digest(b)


def vocabulary_groups(names: Sequence[str], digests: Sequence[str]) -> list[str]:
    """For each tokenizer, the first of ``names`` with the same base digest: its vocabulary's name."""
    first: dict[str, str] = {}
    return [first.setdefault(d, n) for n, d in zip(names, digests, strict=True)]
