"""Tiny constructed vocabularies with the attributes of tokprobe.models.Vocab (no llama.cpp needed).

For unit tests of anything that consumes a Vocab: pieces, token_bytes, kind (KIND_NAMES), base_mask,
n_vocab, type, pre, digest, tokenize(), detokenize().

- :class:`FakeVocab`: entries given as pieces (``▁`` stands for a space), a greedy longest-match
  tokenizer with byte fallback.
- :class:`TableVocab`: entries given as (piece, bytes, kind) rows, with BOS/EOS ids and ``add_bos``
  (what cold start reads).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

from ..lexicon.kinds import KIND_NAMES

Entry = str | tuple[str, str]  # a piece (kind normal) or (piece, kind name)


class FakeVocab:
    """Greedy longest-match tokenizer over a token list; ``▁`` in a piece stands for a space.

    ``space_prefix=True`` mimics SentencePiece's automatic leading space (llama-spm).
    Unknown bytes fall back to byte tokens ``<0xNN>`` when present.
    """

    KIND_NAMES = KIND_NAMES

    def __init__(
        self, entries: Iterable[Entry], *, space_prefix: bool = False, type_: str = "bpe", name: str = "fake"
    ) -> None:
        self.pieces: list[str] = []
        kinds: list[int] = []
        tb: list[bytes] = []
        for e in entries:
            piece, kind = (e, "normal") if isinstance(e, str) else e
            self.pieces.append(piece)
            kinds.append(KIND_NAMES.index(kind))
            if kind == "byte":
                tb.append(bytes([int(piece[3:5], 16)]))
            else:
                tb.append(piece.replace("▁", " ").encode("utf-8"))
        self.token_bytes = tb
        self.kind = np.array(kinds, dtype=np.uint8)
        self.base_mask = (self.kind == 0) | (self.kind == 2)
        self.n_vocab = len(self.pieces)
        self.type = type_
        self.pre = "default"
        self.name = name
        self.space_prefix = space_prefix
        self.digest = hashlib.sha256("\0".join(self.pieces).encode()).hexdigest()
        self._lookup: dict[bytes, int] = {}
        for i, (b, k) in enumerate(zip(tb, kinds, strict=True)):
            if KIND_NAMES[k] in ("normal", "user_defined"):
                self._lookup.setdefault(b, i)
        self._bytes = {b: i for i, (b, k) in enumerate(zip(tb, kinds, strict=True)) if KIND_NAMES[k] == "byte"}
        self._maxlen = max(len(b) for b in tb)

    def tokenize(self, text: str | bytes, *, add_bos: bool | None = None, special: bool = False) -> np.ndarray:
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        if self.space_prefix:
            data = b" " + data
        out: list[int] = []
        i = 0
        while i < len(data):
            for n in range(min(self._maxlen, len(data) - i), 0, -1):
                tid = self._lookup.get(data[i:i + n])
                if tid is not None:
                    out.append(tid)
                    i += n
                    break
            else:
                tid = self._bytes.get(data[i:i + 1])
                if tid is None:
                    raise ValueError(f"cannot tokenize byte {data[i:i + 1]!r}")
                out.append(tid)
                i += 1
        return np.array(out, dtype=np.int32)

    def detokenize(self, ids: Iterable[int]) -> bytes:
        return b"".join(self.token_bytes[int(i)] for i in ids)


def tiny_vocab(*, space_prefix: bool = False, type_: str = "bpe", name: str = "fake") -> FakeVocab:
    """A ~90-entry vocabulary with one token of every class (keywords, operators, whitespace, ...)."""
    entries: list[Entry] = [
        ("<unk>", "unknown"), ("<s>", "control"), ("</s>", "control"),
        ("<0x0A>", "byte"), ("<0x20>", "byte"), ("<0x09>", "byte"), ("<0x0D>", "byte"),
        "d", "e", "f", "i", "n", "u", "l", "y", "r", "o", "m", "t", "a", "c", "s", "_", "x", "h", "g",
        "def", "▁def", "\ndef", "null", "▁null", "yield", "▁yield", "▁from", "from", "▁yield▁from",
        "class", "▁class", "ret", "urn", "▁ret",
        "(", ")", "=", "==", "▁=", "->", "{", "}", ";", ":",
        "▁", "▁▁", "▁▁▁▁", "\t", "\t\t", "\n", "\n\n", "\n▁▁▁▁",
        "0", "1", "42", "▁2024",
        "the", "▁the", "▁house", "tion", "get_value", "getValue", "HTTP", "über",
        ".get", "▁é",
        ("<unused0>", "normal"), ("[PAD7]", "user_defined"), ("<|im_start|>", "user_defined"),
        ("<mask>", "unused"),
        "def",  # a duplicate entry: same bytes as an earlier token
    ]
    return FakeVocab(entries, space_prefix=space_prefix, type_=type_, name=name)


def byte_fallback_vocab(
    words: Sequence[str] = ("def", " def", "return", " return", "    ", "\n", " ", "(", ")", ":", "self", " self"),
    *,
    space_prefix: bool = False,
    type_: str = "bpe",
    name: str = "fake",
) -> FakeVocab:
    """A fake vocabulary that can tokenize any text: the given pieces plus 256 byte-fallback tokens."""
    entries: list[Entry] = [("<s>", "control"), ("</s>", "control")]
    entries += [(f"<0x{b:02X}>", "byte") for b in range(256)]
    entries += [w.replace(" ", "▁") for w in words]
    return FakeVocab(entries, space_prefix=space_prefix, type_=type_, name=name)


class TableVocab:
    """A vocabulary given as rows (piece, bytes, kind name), with the attributes cold start reads.

    ``tokenize`` is a greedy longest match over the normal tokens (enough for tests); it adds BOS
    when ``add_bos`` (the argument, else the vocabulary's flag) says so.
    """

    KIND_NAMES = KIND_NAMES

    def __init__(
        self, tokens: Sequence[tuple[str, bytes, str]], *, bos_id: int | None = 1, eos_id: int | None = 0,
        add_bos: bool = False,
    ) -> None:
        self.pieces = [t[0] for t in tokens]
        self.token_bytes = [t[1] for t in tokens]
        self.kind = np.array([KIND_NAMES.index(t[2]) for t in tokens], dtype=np.uint8)
        self.base_mask = np.isin(self.kind, [KIND_NAMES.index("normal"), KIND_NAMES.index("byte")])
        self.n_vocab = len(tokens)
        self.bos_id, self.eos_id, self.add_bos = bos_id, eos_id, add_bos
        self.digest = hashlib.sha256("\0".join(self.pieces).encode()).hexdigest()

    def tokenize(self, text: str | bytes, *, add_bos: bool | None = None, special: bool = False) -> np.ndarray:
        data = text.encode() if isinstance(text, str) else text
        index = {b: i for i, b in enumerate(self.token_bytes) if b and self.kind[i] == 0}
        out = [self.bos_id] if (self.add_bos if add_bos is None else add_bos) else []
        pos = 0
        while pos < len(data):
            for end in range(len(data), pos, -1):
                if data[pos:end] in index:
                    out.append(index[data[pos:end]])
                    pos = end
                    break
            else:
                raise ValueError("untokenizable")
        return np.array(out, dtype=np.int32)
