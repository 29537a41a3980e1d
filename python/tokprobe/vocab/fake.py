"""Tiny constructed vocabularies with the attributes of tokprobe.models.Vocab (no llama.cpp needed).

For unit tests of anything that consumes a Vocab: pieces, token_bytes, kind (KIND_NAMES), base_mask,
n_vocab, type, pre, digest, tokenize(), detokenize().
"""

from __future__ import annotations

import hashlib

import numpy as np

KIND_NAMES = ("normal", "control", "byte", "user_defined", "unused", "unknown")


class FakeVocab:
    """Greedy longest-match tokenizer over a token list; ``▁`` in a piece stands for a space.

    ``space_prefix=True`` mimics SentencePiece's automatic leading space (llama-spm).
    Unknown bytes fall back to byte tokens ``<0xNN>`` when present.
    """

    KIND_NAMES = KIND_NAMES

    def __init__(self, entries, *, space_prefix: bool = False, type_: str = "bpe", name: str = "fake"):
        self.pieces, kinds, tb = [], [], []
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
        self._lookup = {}
        for i, (b, k) in enumerate(zip(tb, kinds)):
            if KIND_NAMES[k] in ("normal", "user_defined"):
                self._lookup.setdefault(b, i)
        self._bytes = {b: i for i, (b, k) in enumerate(zip(tb, kinds)) if KIND_NAMES[k] == "byte"}
        self._maxlen = max(len(b) for b in tb)

    def tokenize(self, text, *, add_bos=None, special=False):
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        if self.space_prefix:
            data = b" " + data
        out, i = [], 0
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

    def detokenize(self, ids):
        return b"".join(self.token_bytes[int(i)] for i in ids)


def tiny_vocab(**kw) -> FakeVocab:
    entries = [
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
    return FakeVocab(entries, **kw)


def byte_fallback_vocab(words=("def", " def", "return", " return", "    ", "\n", " ", "(", ")", ":", "self", " self"), **kw) -> FakeVocab:
    """A fake vocabulary that can tokenize any text: the given pieces plus 256 byte-fallback tokens."""
    entries = [("<s>", "control"), ("</s>", "control")]
    entries += [(f"<0x{b:02X}>", "byte") for b in range(256)]
    entries += [w.replace(" ", "▁") for w in words]
    return FakeVocab(entries, **kw)
