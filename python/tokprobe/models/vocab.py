"""A model's tokenizer, through llama.cpp's vocabulary API (works for ``vocab_only`` loads)."""

from __future__ import annotations

import ctypes
import hashlib
import weakref
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Error, InputError
from ..lexicon.kinds import KIND_NAMES
from .gguf_file import GGUFHeader

KIND_NORMAL, KIND_CONTROL, KIND_BYTE, KIND_USER_DEFINED, KIND_UNUSED, KIND_UNKNOWN = range(6)
VOCAB_TYPE_NAMES = {0: "none", 1: "spm", 2: "bpe", 3: "wpm", 4: "ugm", 5: "rwkv", 6: "plamo2", 7: "test"}

# llama_token_attr bits
_ATTR_UNKNOWN, _ATTR_UNUSED, _ATTR_NORMAL, _ATTR_CONTROL, _ATTR_USER_DEFINED, _ATTR_BYTE = (
    1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5)

_I32P = ctypes.POINTER(ctypes.c_int32)


class ModelHandle:
    """Owns one ``llama_model *``; freed by :meth:`free` (Model.close) or when garbage collected.

    A vocab-only handle (``reopen`` given) can :meth:`borrow` the llama_model of a full load of the
    same file while that one is open: its own copy (~44 MiB of vocabulary tables for a 262k vocab) is
    freed, and made again by ``reopen`` on the first use after the lender is freed."""

    def __init__(self, lib: Any, model: Any, path: Path, reopen: Callable[[], Any] | None = None) -> None:
        self.lib = lib
        self.model = model
        self.vocab = lib.llama_model_get_vocab(model)
        self.path = path
        self._reopen = reopen
        self._closed = False
        self._lender: ModelHandle | None = None
        self._borrowers: weakref.WeakSet[ModelHandle] = weakref.WeakSet()

    def check(self) -> None:
        if self.model is None and not self._closed and self._reopen is not None:
            self.model = self._reopen()  # the lender was freed: a vocab-only load of our own again
            self.vocab = self.lib.llama_model_get_vocab(self.model)
        if self.model is None:
            raise Error(f"{self.path.name}: the model has been closed")

    def borrow(self, lender: ModelHandle) -> None:
        """Use ``lender``'s llama_model (a full load of the same file) and free this handle's own."""
        if self._reopen is None or self._lender is not None or self.model is None or lender.model is None:
            return
        own = self.model
        self.model, self.vocab, self._lender = lender.model, lender.vocab, lender
        lender._borrowers.add(self)
        self.lib.llama_model_free(own)

    def _give_back(self) -> None:
        self.model = self.vocab = self._lender = None

    def free(self) -> None:
        self._closed = True
        for b in list(self._borrowers):
            b._give_back()
        self._borrowers.clear()
        if self._lender is not None:  # the model is the lender's: not ours to free
            self._lender._borrowers.discard(self)
            self._give_back()
        if self.model is not None:
            model, self.model, self.vocab = self.model, None, None
            self.lib.llama_model_free(model)

    def __del__(self) -> None:
        try:
            self.free()
        except Exception:  # interpreter shutdown
            pass


def as_token_array(ids: Any, n_vocab: int, what: str = "token ids") -> np.ndarray:
    """A C-contiguous int32 copy-free view of ``ids`` (any int sequence), range-checked."""
    arr = np.asarray(ids)
    if arr.dtype != np.int32:
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise InputError(f"{what} must be integers, got {arr.dtype}")
        arr = arr.astype(np.int32)
    arr = np.ascontiguousarray(arr.reshape(-1))
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= n_vocab):
        bad = int(arr[(arr < 0) | (arr >= n_vocab)][0])
        raise InputError(f"{what}: id {bad} is outside the vocabulary [0, {n_vocab})")
    return arr


class Vocab:
    """Tokenizer and token table of a GGUF model.

    ``pieces`` are the raw GGUF token strings ('Ġdef', '▁def', '<0x0A>'); ``token_bytes`` the bytes a
    token contributes to text (control tokens rendered as their literal text, byte tokens as their
    byte); ``kind`` one of :data:`KIND_NAMES` per token; ``base_mask`` True for the base vocabulary
    (normal and byte tokens) and False for added / special ones.
    """

    KIND_NAMES = KIND_NAMES

    def __init__(self, handle: ModelHandle, header: GGUFHeader | None = None) -> None:
        self._h = handle
        self._header = header
        lib, v = handle.lib, handle.vocab
        self.n_vocab: int = int(lib.llama_vocab_n_tokens(v))
        self.type: str = VOCAB_TYPE_NAMES.get(int(lib.llama_vocab_type(v)), "unknown")
        pre = header.kv.get("tokenizer.ggml.pre") if header is not None else None
        self.pre: str = pre if isinstance(pre, str) else "default"
        self.bos_id: int = int(lib.llama_vocab_bos(v))
        self.eos_id: int = int(lib.llama_vocab_eos(v))
        self.eot_id: int = int(lib.llama_vocab_eot(v))
        self.add_bos: bool = bool(lib.llama_vocab_get_add_bos(v))
        self.add_eos: bool = bool(lib.llama_vocab_get_add_eos(v))
        self._buf = ctypes.create_string_buffer(256)

    # -- token table --------------------------------------------------------------------------------
    @cached_property
    def pieces(self) -> list[str]:
        toks = self._header.kv.get("tokenizer.ggml.tokens") if self._header is not None else None
        if isinstance(toks, list) and len(toks) == self.n_vocab:
            return list(toks)
        self._h.check()
        lib, v = self._h.lib, self._h.vocab
        out = []
        for i in range(self.n_vocab):
            raw = lib.llama_vocab_get_text(v, i) or b""
            out.append(raw.decode("utf-8", "surrogateescape"))
        return out

    @cached_property
    def token_bytes(self) -> list[bytes]:
        self._h.check()
        return [self.token_to_piece(i, special=True) for i in range(self.n_vocab)]

    @cached_property
    def attrs(self) -> np.ndarray:
        """Raw ``llama_token_attr`` bit flags per token (uint32[V])."""
        self._h.check()
        lib, v = self._h.lib, self._h.vocab
        get = lib.llama_vocab_get_attr
        return np.fromiter((get(v, i) for i in range(self.n_vocab)), dtype=np.uint32, count=self.n_vocab)

    @cached_property
    def kind(self) -> np.ndarray:
        a = self.attrs
        kind = np.full(self.n_vocab, KIND_NORMAL, dtype=np.uint8)
        # A GGUF token has one type, but llama.cpp may add flags (e.g. CONTROL on an end-of-generation
        # token stored as user-defined, UNUSED on top of CONTROL for '<unusedN>'). Later wins:
        # user_defined < byte < control < unused < unknown.
        kind[(a & _ATTR_USER_DEFINED) != 0] = KIND_USER_DEFINED
        kind[(a & _ATTR_BYTE) != 0] = KIND_BYTE
        kind[(a & _ATTR_CONTROL) != 0] = KIND_CONTROL
        kind[(a & _ATTR_UNUSED) != 0] = KIND_UNUSED
        kind[(a & _ATTR_UNKNOWN) != 0] = KIND_UNKNOWN
        return kind

    @cached_property
    def base_mask(self) -> np.ndarray:
        k = self.kind
        mask: np.ndarray = (k == KIND_NORMAL) | (k == KIND_BYTE)
        return mask

    def kind_counts(self) -> dict[str, int]:
        counts = np.bincount(self.kind, minlength=len(KIND_NAMES))
        return {name: int(counts[i]) for i, name in enumerate(KIND_NAMES)}

    @cached_property
    def digest(self) -> str:
        """sha256 over the token texts (each UTF-8 encoded, NUL-terminated), in id order."""
        h = hashlib.sha256()
        for p in self.pieces:
            h.update(p.encode("utf-8", "surrogateescape"))
            h.update(b"\0")
        return h.hexdigest()

    def first_difference(self, other: Vocab) -> tuple[int, str | None, str | None] | None:
        """The first id where the token texts differ: (id, mine, theirs); None if identical."""
        a, b = self.pieces, other.pieces
        for i in range(min(len(a), len(b))):
            if a[i] != b[i]:
                return i, a[i], b[i]
        if len(a) != len(b):
            i = min(len(a), len(b))
            return i, a[i] if i < len(a) else None, b[i] if i < len(b) else None
        return None

    def is_eog(self, token: int) -> bool:
        """End of generation (EOS, EOT and the like)."""
        self._h.check()
        return bool(self._h.lib.llama_vocab_is_eog(self._h.vocab, int(token)))

    # -- text <-> ids -------------------------------------------------------------------------------
    def token_to_piece(self, token: int, *, special: bool = True) -> bytes:
        """Bytes of one token (``special``: render control tokens as their text)."""
        self._h.check()
        if not 0 <= int(token) < self.n_vocab:
            raise InputError(f"token id {token} is outside the vocabulary [0, {self.n_vocab})")
        return self._piece(int(token), special)

    def tokenize(self, text: str | bytes, *, add_bos: bool | None = None, special: bool = False) -> np.ndarray:
        """Token ids (int32) of ``text``.

        ``add_bos``: None = what the vocabulary says (llama.cpp's add_special: BOS/EOS per the GGUF
        flags); True = prepend BOS (once); False = no BOS/EOS. ``special``: parse special-token text
        such as ``<|im_start|>`` into control tokens (default: treat it as plain text).
        """
        self._h.check()
        if isinstance(text, str):
            try:
                data = text.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError as exc:
                raise InputError(f"text is not encodable as UTF-8 (lone surrogate at {exc.start})") from None
        elif isinstance(text, (bytes, bytearray, memoryview)):
            data = bytes(text)
        else:
            raise InputError(f"tokenize expects str or bytes, got {type(text).__name__}")
        if len(data) >= 2**31 - 64:
            raise InputError("text is too long to tokenize in one call (2 GiB)")
        lib, v = self._h.lib, self._h.vocab
        add_special = add_bos is None
        n_max = len(data) + 16
        out = np.empty(n_max, dtype=np.int32)
        n = lib.llama_tokenize(v, data, len(data), out.ctypes.data_as(_I32P), n_max, add_special, special)
        if n < 0:
            n_max = -n
            out = np.empty(n_max, dtype=np.int32)
            n = lib.llama_tokenize(v, data, len(data), out.ctypes.data_as(_I32P), n_max, add_special, special)
            if n < 0:  # pragma: no cover - llama.cpp contract
                raise Error("llama_tokenize failed")
        ids = out[:n].copy()
        if add_bos is True and self.bos_id >= 0 and (n == 0 or ids[0] != self.bos_id):
            ids = np.concatenate([np.array([self.bos_id], dtype=np.int32), ids])
        return ids

    def detokenize(self, ids: Iterable[int] | np.ndarray, *, special: bool = False,
                   clean_spaces: bool = False) -> bytes:
        """Bytes of the text of ``ids`` (inverse of :meth:`tokenize`).

        The concatenation of the tokens' bytes (``llama_token_to_piece``): a leading BOS is dropped
        when the vocabulary adds one, and for vocabularies with a space prefix (SentencePiece) the
        first token's leading space is removed, as llama.cpp does. ``special``: render control tokens
        as their text (otherwise they contribute nothing). Round trips are byte-exact for byte-level
        BPE and byte-fallback SPM vocabularies; normalising tokenizers (WordPiece, some Unigram models)
        may not round-trip. ``clean_spaces=True`` uses ``llama_detokenize`` instead, with llama.cpp's
        clean-up of spaces before punctuation for the vocabularies that ask for it (lossy).
        """
        self._h.check()
        arr = as_token_array(ids if not isinstance(ids, (list, tuple)) else np.array(ids, dtype=np.int64),
                             self.n_vocab)
        if self.add_bos and arr.size and int(arr[0]) == self.bos_id:
            arr = arr[1:]
        if arr.size == 0:
            return b""
        if clean_spaces:
            return self._llama_detokenize(arr, special)
        cache = self._piece_cache[bool(special)]
        parts = []
        first = int(arr[0])
        parts.append(self._piece(first, special, lstrip=1) if self.add_space_prefix else self._cached(first, special))
        for t in arr[1:].tolist():
            b = cache.get(t)
            if b is None:
                b = self._cached(t, special)
            parts.append(b)
        return b"".join(parts)

    @cached_property
    def add_space_prefix(self) -> bool:
        """Whether tokenization prefixes a space (SentencePiece style); from the GGUF, llama.cpp's default."""
        v = self._header.kv.get("tokenizer.ggml.add_space_prefix") if self._header is not None else None
        return bool(v) if v is not None else self.type == "spm"

    @cached_property
    def _piece_cache(self) -> tuple[dict[int, bytes], dict[int, bytes]]:
        return ({}, {})

    def _cached(self, token: int, special: bool) -> bytes:
        cache = self._piece_cache[bool(special)]
        b = cache.get(token)
        if b is None:
            b = cache[token] = self._piece(token, special)
        return b

    def _piece(self, token: int, special: bool, lstrip: int = 0) -> bytes:
        lib, v = self._h.lib, self._h.vocab
        n = lib.llama_token_to_piece(v, int(token), self._buf, len(self._buf), lstrip, special)
        if n < 0:
            self._buf = ctypes.create_string_buffer(-n + 16)
            n = lib.llama_token_to_piece(v, int(token), self._buf, len(self._buf), lstrip, special)
        return self._buf.raw[:n]

    def _llama_detokenize(self, arr: np.ndarray, special: bool) -> bytes:
        lib, v = self._h.lib, self._h.vocab
        cap = max(64, arr.size * 8)
        buf = ctypes.create_string_buffer(cap)
        ptr = arr.ctypes.data_as(_I32P)
        n = lib.llama_detokenize(v, ptr, int(arr.size), buf, cap, False, special)
        if n < 0:
            cap = -n + 16
            buf = ctypes.create_string_buffer(cap)
            n = lib.llama_detokenize(v, ptr, int(arr.size), buf, cap, False, special)
            if n < 0:  # pragma: no cover
                raise Error("llama_detokenize failed")
        return buf.raw[:n]

    def token_table(self) -> pd.DataFrame:
        """A pandas DataFrame: id, piece, bytes (hex), text (decoded, lossy), kind, base."""
        tb = self.token_bytes
        return pd.DataFrame({
            "id": np.arange(self.n_vocab, dtype=np.int32),
            "piece": self.pieces,
            "bytes_hex": [b.hex() for b in tb],
            "text": [b.decode("utf-8", "replace") for b in tb],
            "kind": [KIND_NAMES[k] for k in self.kind],
            "base": self.base_mask,
        })

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_vocab": self.n_vocab, "vocab_type": self.type, "pre_tokenizer": self.pre,
            "bos_id": self.bos_id, "eos_id": self.eos_id, "eot_id": self.eot_id,
            "add_bos": self.add_bos, "add_eos": self.add_eos,
        }

    def __len__(self) -> int:
        return self.n_vocab

    def __repr__(self) -> str:
        return (f"Vocab({self.type}, n_vocab={self.n_vocab}, pre={self.pre!r}, bos={self.bos_id}, "
                f"add_bos={self.add_bos})")


def ids_list(ids: Sequence[int] | np.ndarray) -> list[int]:
    return [int(x) for x in np.asarray(ids).reshape(-1)]
