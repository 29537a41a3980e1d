"""Hugging Face ``tokenizer.json`` vocabularies, read with the ``tokenizers`` library, as a Vocab-like adapter.

:class:`HFVocab` offers what the vocabulary analysis reads from a GGUF :class:`tokprobe.models.Vocab`
(``n_vocab``, ``pieces``, ``token_bytes``, ``kind``, ``base_mask``, ``digest``, ``tokenize``), so the
composition, coverage, whitespace and corpus tables run unchanged on it.

* Base vocabulary: the ids of the tokenizer model's own vocabulary (``get_vocab(with_added_tokens=False)``);
  added tokens are ``control`` (special) or ``user_defined`` (not special) — also the few that sit inside
  the model's vocabulary (DeepSeek-V3's ids 0-2), which stay counted in the base as the paper counts it.
  The paper's counts are base vocabularies (Qwen2.5 151,643; DeepSeek-V3 128,000; Llama 3.1 128,000).
* Token bytes: byte-level BPE pieces are mapped back through GPT-2's byte alphabet (``Ġ`` -> space);
  SentencePiece-style pieces (Metaspace / a ``▁`` replace normaliser) get ``▁`` -> space and byte-fallback
  ``<0xNN>`` -> that byte; WordPiece continuation pieces lose their ``##`` prefix.
* Surface forms are found by ENCODING (:meth:`HFVocab.split_form`): the form is encoded after anchors that
  start a fresh pre-token and the tokens over the form's characters (by the library's character offsets)
  are its pieces. For WordPiece, whose pre-tokenizer drops whitespace, ``' def'`` encodes like ``'def'``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError, InputError
from ..lexicon.forms import ANCHORS
from ..lexicon.kinds import KIND_NAMES

TOKENIZER_FILE = "tokenizer.json"
_BYTE_PIECE_RE = re.compile(r"<0x([0-9A-Fa-f]{2})>\Z")
_KIND = {k: i for i, k in enumerate(KIND_NAMES)}


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table (as in the ByteLevel pre-tokenizer)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


BYTE_DECODER: dict[str, int] = {c: b for b, c in _bytes_to_unicode().items()}


def _has_type(node: Any, name: str) -> bool:
    """Whether a tokenizer.json component (possibly a Sequence) contains a step of type ``name``."""
    if isinstance(node, dict):
        if node.get("type") == name:
            return True
        return any(_has_type(v, name) for v in node.values() if isinstance(v, (dict, list)))
    if isinstance(node, list):
        return any(_has_type(v, name) for v in node)
    return False


def tokenizer_file(path: str | os.PathLike[str]) -> Path | None:
    """``path`` itself when it is a tokenizer.json file, ``path/tokenizer.json`` for a folder holding one."""
    p = Path(path).expanduser()
    if p.is_file() and p.suffix == ".json":
        return p
    if p.is_dir() and (p / TOKENIZER_FILE).is_file():
        return p / TOKENIZER_FILE
    return None


def _load(path: Path) -> tuple[Any, dict[str, Any]]:
    try:
        from tokenizers import Tokenizer as HFTokenizer  # lazy: a Rust extension, needed for tokenizer.json only
    except ImportError as exc:  # pragma: no cover - a main dependency
        raise InputError(f"reading {path} needs the 'tokenizers' package ({exc})") from None
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FileFormatError(f"{path}: not a readable tokenizer.json ({exc})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("model"), dict):
        raise FileFormatError(f"{path}: not a tokenizer.json (no 'model' object)")
    try:
        tok = HFTokenizer.from_str(json.dumps(spec))
    except Exception as exc:  # the library raises plain Exception for any model it cannot build
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileFormatError(f"{path}: the tokenizers library cannot load it ({msg})") from None
    return tok, spec


class HFVocab:
    """A tokenizer.json vocabulary with the interface of :class:`tokprobe.models.Vocab` the analyses use."""

    KIND_NAMES = KIND_NAMES

    def __init__(self, path: str | os.PathLike[str]) -> None:
        p = tokenizer_file(path)
        if p is None:
            raise InputError(f"{path}: no tokenizer.json there")
        self.path = p
        self._tok, spec = _load(p)
        model = spec["model"]
        self.model_type: str = str(model.get("type") or type(self._tok.model).__name__)
        pre, dec = spec.get("pre_tokenizer"), spec.get("decoder")
        self.byte_level = _has_type(pre, "ByteLevel") or _has_type(dec, "ByteLevel")
        self.metaspace = not self.byte_level and (
            _has_type(pre, "Metaspace") or _has_type(dec, "Metaspace")
            or "▁" in json.dumps(spec.get("normalizer"), ensure_ascii=False)
        )
        self.byte_fallback = bool(model.get("byte_fallback")) or _has_type(dec, "ByteFallback")
        wordpiece = self.model_type == "WordPiece"
        self.subword_prefix: str = str(model.get("continuing_subword_prefix") or "") if wordpiece else ""
        self.unk_token = model.get("unk_token")
        if self.model_type == "Unigram" and isinstance(model.get("unk_id"), int):
            self.unk_token = model["vocab"][model["unk_id"]][0]
        base = self._tok.get_vocab(with_added_tokens=False)
        added = self._tok.get_added_tokens_decoder()
        self.n_model_vocab = len(base)
        self.n_vocab: int = max([*base.values(), *added.keys(), -1]) + 1
        pieces = [""] * self.n_vocab
        kind = np.full(self.n_vocab, _KIND["unused"], dtype=np.uint8)  # ids in neither table: holes
        for piece, i in base.items():
            pieces[i] = piece
            kind[i] = _KIND["normal"]
            if piece == self.unk_token:
                kind[i] = _KIND["unknown"]
            elif self.byte_fallback and _BYTE_PIECE_RE.match(piece):
                kind[i] = _KIND["byte"]
        self.added_ids = sorted(added)
        self._in_model = np.zeros(self.n_vocab, dtype=bool)
        self._in_model[list(base.values())] = True
        for i, t in added.items():
            pieces[i] = t.content
            kind[i] = _KIND["control"] if t.special else _KIND["user_defined"]
        self.pieces: list[str] = pieces
        self.kind: np.ndarray = kind
        self.type = {"BPE": "bpe", "Unigram": "ugm", "WordPiece": "wpm", "WordLevel": "wordlevel"}.get(
            self.model_type, self.model_type.lower())
        self.pre = "byte-level" if self.byte_level else ("metaspace" if self.metaspace else "whitespace")
        self.name = p.parent.name if p.name == TOKENIZER_FILE else p.stem

    # -- token table --------------------------------------------------------------------------------
    @property
    def base_mask(self) -> np.ndarray:
        """The tokenizer model's own vocabulary (the paper's base counts), special entries in it included."""
        return self._in_model

    @property
    def n_base(self) -> int:
        return int(self.base_mask.sum())

    def _piece_bytes(self, i: int) -> bytes:
        piece = self.pieces[i]
        k = int(self.kind[i])
        if k == _KIND["user_defined"] and self.metaspace:
            return piece.replace("▁", " ").encode("utf-8")  # matched after the '▁' normaliser, as pieces are
        if k in (_KIND["control"], _KIND["user_defined"], _KIND["unused"]):
            return piece.encode("utf-8")
        if self.byte_level:
            return b"".join(bytes([BYTE_DECODER[c]]) if c in BYTE_DECODER else c.encode("utf-8") for c in piece)
        if k == _KIND["byte"]:
            m = _BYTE_PIECE_RE.match(piece)
            return bytes([int(m.group(1), 16)]) if m else piece.encode("utf-8")
        if self.subword_prefix and piece.startswith(self.subword_prefix) and piece != self.subword_prefix:
            piece = piece[len(self.subword_prefix):]
        if self.metaspace:
            piece = piece.replace("▁", " ")
        return piece.encode("utf-8")

    @cached_property
    def token_bytes(self) -> list[bytes]:
        return [self._piece_bytes(i) for i in range(self.n_vocab)]

    @cached_property
    def digest(self) -> str:
        """sha256 over the token texts (each UTF-8 encoded, NUL-terminated), in id order, as for a GGUF Vocab."""
        h = hashlib.sha256()
        for p in self.pieces:
            h.update(p.encode("utf-8", "surrogateescape") + b"\0")
        return h.hexdigest()

    def kind_counts(self) -> dict[str, int]:
        counts = np.bincount(self.kind, minlength=len(KIND_NAMES))
        return {name: int(counts[i]) for i, name in enumerate(KIND_NAMES)}

    # -- encoding -----------------------------------------------------------------------------------
    def _encode(self, text: str, special: bool) -> Any:
        self._tok.encode_special_tokens = not special
        return self._tok.encode(text, add_special_tokens=False)

    def tokenize(self, text: str | bytes, *, add_bos: bool | None = None, special: bool = False) -> np.ndarray:
        """Token ids (int32) of ``text``; ``add_bos`` None adds what the tokenizer's post-processor adds."""
        if isinstance(text, (bytes, bytearray, memoryview)):
            text = bytes(text).decode("utf-8", "replace")
        elif not isinstance(text, str):
            raise InputError(f"tokenize expects str or bytes, got {type(text).__name__}")
        self._tok.encode_special_tokens = not special
        enc = self._tok.encode(text, add_special_tokens=add_bos is None or bool(add_bos))
        return np.asarray(enc.ids, dtype=np.int32)

    def decode(self, ids: list[int]) -> str:
        out: str = self._tok.decode(ids, skip_special_tokens=False)
        return out

    def decode_each(self, ids: list[int]) -> list[str]:
        """Each id decoded alone by the tokenizer's decoder (as the paper's repository did)."""
        out: list[str] = self._tok.decode_batch([[i] for i in ids], skip_special_tokens=False)
        return out

    def split_form(self, text: str) -> tuple[list[int], bool]:
        """Token ids over ``text`` where it starts a pre-token, found by encoding, and whether it was clean.

        ``text`` is encoded after each anchor of :data:`tokprobe.lexicon.forms.ANCHORS` in turn; the tokens
        whose character spans overlap the text are its pieces. Clean when no token straddles the text's
        first character and, for tokenizers that keep every byte (all but WordPiece), the pieces' bytes are
        exactly the text's (the first clean anchor wins; otherwise the first anchor's split).
        """
        fallback: list[int] | None = None
        lossless = self.model_type != "WordPiece"  # WordPiece drops whitespace: spans alone decide there
        target = text.encode("utf-8")
        for anchor in ANCHORS:
            enc = self._encode(anchor + text, special=False)
            start = len(anchor)
            ids: list[int] = []
            clean = True
            for tid, (a, b) in zip(enc.ids, enc.offsets, strict=True):
                if b > start or (a >= start and b == a and text):
                    ids.append(int(tid))
                    if a < start:
                        clean = False
            if clean and lossless and b"".join(self.token_bytes[i] for i in ids) != target:
                clean = False  # e.g. SentencePiece's automatic '▁' prefix on the first piece
            if clean and ids:
                return ids, True
            if fallback is None and ids:
                fallback = ids
        return (fallback or []), False


def is_hf_vocab(vocab: Any) -> bool:
    return isinstance(vocab, HFVocab)
