"""Corpus -> one token stream with, for every token, its file, byte span, line, language and class.

Each corpus file is tokenized on its own (no BOS) and the files are concatenated in corpus
order, so every token belongs to exactly one file; the stream starts with BOS when the
vocabulary adds one (as llama.cpp's perplexity tool does for its single text). The ``llama`` and
``sliding`` windows may span two files, as llama.cpp's windows span articles of its test text;
the ``file`` scheme plans its windows from :attr:`TokenStream.file_starts` and never crosses a file.

A token's byte span is found from the bytes each vocabulary token contributes
(``Vocab.token_bytes``); when the detokenized file differs from the source (e.g. an SPM
dummy space prefix) the spans are aligned onto the source bytes.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import EmptyInputError
from ..lexicon import source_classes as _classes


@dataclass
class FileSpan:
    path: str
    language: str | None
    data: bytes  # the file's UTF-8 bytes
    byte_cls: np.ndarray  # uint8 class per byte
    is_space: np.ndarray  # bool per byte
    token_start: int  # index of its first token in the stream
    n_tokens: int


@dataclass
class TokenStream:
    """The token ids of a corpus plus per-token metadata (arrays of length ``len(ids)``)."""

    ids: np.ndarray  # int32
    file: np.ndarray  # int32, -1 for BOS
    byte_start: np.ndarray  # int64, within the file
    byte_end: np.ndarray  # int64
    cls: np.ndarray  # uint8, index into SOURCE_CLASSES
    files: list[FileSpan]
    languages: list[str]  # language names; index by lang
    lang: np.ndarray  # int16, -1 unknown
    n_aligned_files: int = 0  # files whose detokenized bytes needed an alignment onto the source
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def digest(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.ids, dtype="<i4").tobytes()).hexdigest()

    @property
    def file_starts(self) -> list[int]:
        """The stream offset of each file's first token (the files are contiguous, in corpus order)."""
        return [f.token_start for f in self.files]

    @property
    def n_bytes(self) -> np.ndarray:
        n: np.ndarray = self.byte_end - self.byte_start
        return n

    def language_names(self, idx: np.ndarray) -> np.ndarray:
        names = np.array(list(self.languages) + ["unknown"], dtype=object)
        idx = np.asarray(idx, dtype=np.int64)
        return names[np.where(idx < 0, len(self.languages), idx)]

    def line_of(self, positions: np.ndarray) -> np.ndarray:
        """1-based line number of each token's first byte in its file (0 for BOS)."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.zeros(len(positions), dtype=np.int64)
        fidx = self.file[positions]
        for f in np.unique(fidx):
            if f < 0:
                continue
            sel = fidx == f
            nl = np.flatnonzero(np.frombuffer(self.files[f].data, dtype=np.uint8) == 0x0A)
            out[sel] = np.searchsorted(nl, self.byte_start[positions[sel]], side="right") + 1
        return out

    def context(self, position: int, before: int = 2, after: int = 1) -> tuple[str, int, int]:
        """Source lines around a token: (text, start, end) where [start, end) marks the token in text."""
        f = int(self.file[position])
        if f < 0:
            return "", 0, 0
        data = self.files[f].data
        s, e = int(self.byte_start[position]), int(self.byte_end[position])
        lo = s
        for _ in range(before + 1):
            lo = data.rfind(b"\n", 0, lo)
            if lo < 0:
                break
        lo = 0 if lo < 0 else lo + 1
        hi = e
        for _ in range(after + 1):
            nxt = data.find(b"\n", hi)
            if nxt < 0:
                hi = len(data)
                break
            hi = nxt + 1
        hi = max(hi, e)
        pre = data[lo:s].decode("utf-8", "replace")
        tok = data[s:e].decode("utf-8", "replace")
        post = data[e:hi].decode("utf-8", "replace").rstrip("\n")
        return pre + tok + post, len(pre), len(pre) + len(tok)


def _token_lengths(vocab: Any) -> np.ndarray:
    cached = getattr(vocab, "_tokprobe_token_lengths", None)
    if cached is None:
        cached = np.fromiter((len(b) for b in vocab.token_bytes), dtype=np.int64, count=vocab.n_vocab)
        try:
            vocab._tokprobe_token_lengths = cached
        except Exception:  # slotted object: recompute next time
            pass
    return cached


def align_spans(detok: bytes, src: bytes, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Map byte spans in ``detok`` onto ``src``; returns (starts, ends, needed_alignment)."""
    if detok == src:
        return starts, ends, False
    n = len(detok)
    pos_map = np.zeros(n + 1, dtype=np.int64)
    if detok.endswith(src):  # inserted prefix (SPM dummy space): it belongs to the first token
        k = n - len(src)
        pos_map[:] = np.maximum(np.arange(n + 1) - k, 0)
    else:
        sm = difflib.SequenceMatcher(None, detok, src, autojunk=False)
        for tag, i1, i2, j1, j2 in sm.get_opcodes():
            if tag == "equal":
                pos_map[i1:i2] = np.arange(j1, j2)
            else:  # replaced/inserted bytes map to the start of the source block
                pos_map[i1:i2] = j1
        pos_map[n] = len(src)
    return pos_map[starts], pos_map[ends], True


class _Parts:
    """The per-token arrays of a stream being built, one part per file (and one for BOS)."""

    def __init__(self) -> None:
        self.ids: list[np.ndarray] = []
        self.file: list[np.ndarray] = []
        self.start: list[np.ndarray] = []
        self.end: list[np.ndarray] = []
        self.cls: list[np.ndarray] = []
        self.lang: list[np.ndarray] = []
        self.total = 0

    def add(self, ids: np.ndarray, file: int, starts: np.ndarray, ends: np.ndarray, cls: np.ndarray,
            lang: int) -> None:
        self.ids.append(ids)
        self.file.append(np.full(len(ids), file, dtype=np.int32))
        self.start.append(starts.astype(np.int64))
        self.end.append(ends.astype(np.int64))
        self.cls.append(cls)
        self.lang.append(np.full(len(ids), lang, dtype=np.int16))
        self.total += len(ids)

    def stream(self, files: list[FileSpan], languages: list[str], n_aligned: int) -> TokenStream:
        return TokenStream(
            ids=np.concatenate(self.ids),
            file=np.concatenate(self.file),
            byte_start=np.concatenate(self.start),
            byte_end=np.concatenate(self.end),
            cls=np.concatenate(self.cls),
            files=files,
            languages=languages,
            lang=np.concatenate(self.lang),
            n_aligned_files=n_aligned,
        )


def _source_byte_classes(cf: Any, text: str, n_bytes: int) -> np.ndarray:
    byte_cls = _classes.byte_classes(text, getattr(cf, "path", None), getattr(cf, "language", None))
    if len(byte_cls) != n_bytes:  # defensive: never index out of range
        byte_cls = np.resize(byte_cls, n_bytes) if len(byte_cls) else np.full(n_bytes, _classes.OTHER, np.uint8)
    return byte_cls


def _language_index(lang: Any, languages: list[str], lang_index: dict[str, int]) -> int:
    """The index of ``lang`` in ``languages`` (appended when new), -1 when unknown."""
    if lang is None:
        return -1
    li = lang_index.setdefault(str(lang), len(languages))
    if li == len(languages):
        languages.append(str(lang))
    return li


def build_stream(
    corpus_files: Sequence[Any],
    tokenizer: Any,
    vocab: Any,
    *,
    add_bos: bool | None = None,
    max_tokens: int | None = None,
) -> TokenStream:
    """Tokenize ``corpus_files`` (objects with .path, .language, .text) into a :class:`TokenStream`.

    ``tokenizer`` has ``tokenize(text, add_bos=False)``; ``vocab`` has ``token_bytes``,
    ``n_vocab``, ``add_bos`` and ``bos_id``. ``max_tokens`` truncates the stream.
    """
    if add_bos is None:
        add_bos = bool(getattr(vocab, "add_bos", False))
    tok_len = _token_lengths(vocab)
    token_bytes = vocab.token_bytes
    parts = _Parts()
    files: list[FileSpan] = []
    languages: list[str] = []
    lang_index: dict[str, int] = {}
    n_aligned = 0
    if add_bos:
        zero = np.zeros(1, dtype=np.int64)
        parts.add(np.array([int(vocab.bos_id)], dtype=np.int32), -1, zero, zero,
                  np.array([_classes.OTHER], dtype=np.uint8), -1)
    for cf in corpus_files:
        total = parts.total
        if max_tokens is not None and total >= max_tokens:
            break
        text = cf.text
        if not text:
            continue
        ids = np.asarray(tokenizer.tokenize(text, add_bos=False), dtype=np.int32)
        if ids.size == 0:
            continue
        src = text.encode("utf-8", "surrogateescape")
        lens = tok_len[ids]
        ends = np.cumsum(lens)
        starts = ends - lens
        detok = b"".join(token_bytes[i] for i in ids.tolist())
        starts, ends, aligned = align_spans(detok, src, starts, ends)
        n_aligned += aligned
        if max_tokens is not None and total + len(ids) > max_tokens:
            keep = max_tokens - total
            ids, starts, ends = ids[:keep], starts[:keep], ends[:keep]
        byte_cls = _source_byte_classes(cf, text, len(src))
        is_space = _classes.whitespace_mask(src)
        fi = len(files)
        lang = getattr(cf, "language", None)
        li = _language_index(lang, languages, lang_index)
        files.append(FileSpan(str(getattr(cf, "path", f"file{fi}")), lang, src, byte_cls, is_space, total, len(ids)))
        parts.add(ids, fi, starts, ends, _classes.span_classes(byte_cls, is_space, starts, ends), li)
    if not files:
        raise EmptyInputError("the corpus has no text to tokenize")
    return parts.stream(files, languages, n_aligned)


@dataclass
class _TruncatedFile:
    path: str
    language: str | None
    text: str


def same_bytes(corpus_files: Sequence[Any], stream: TokenStream) -> list[Any]:
    """``corpus_files`` cut to the bytes ``stream`` covers (files it dropped are dropped, the file it
    truncated is cut at the same byte), so another tokenizer's stream covers the same bytes: a
    truncation by bytes, not tokens (for bits per byte across vocabularies)."""
    covered = {fs.path: int(stream.byte_end[fs.token_start + fs.n_tokens - 1]) for fs in stream.files}
    out: list[Any] = []
    for i, cf in enumerate(corpus_files):
        path = str(getattr(cf, "path", f"file{i}"))
        if path not in covered:
            continue
        src = cf.text.encode("utf-8", "surrogateescape")
        n = covered[path]
        out.append(cf if n >= len(src) else
                   _TruncatedFile(path, getattr(cf, "language", None), src[:n].decode("utf-8", "surrogateescape")))
    return out


def byte_class_counts(stream: TokenStream, positions: np.ndarray) -> np.ndarray:
    """Count of source bytes of each class inside each token span: int64[len(positions), n_classes]."""
    n_cls = len(_classes.SOURCE_CLASSES)
    positions = np.asarray(positions, dtype=np.int64)
    out = np.zeros((len(positions), n_cls), dtype=np.int64)
    fidx = stream.file[positions]
    for f in np.unique(fidx):
        if f < 0:
            continue
        sel = np.flatnonzero(fidx == f)
        fs = stream.files[f]
        # prefix sums of one-hot byte classes: counts in [s, e) = cum[e] - cum[s]
        onehot = np.zeros((len(fs.byte_cls) + 1, n_cls), dtype=np.int64)
        onehot[np.arange(1, len(fs.byte_cls) + 1), fs.byte_cls] = 1
        cum = np.cumsum(onehot, axis=0)
        s = stream.byte_start[positions[sel]]
        e = stream.byte_end[positions[sel]]
        out[sel] = cum[e] - cum[s]
    return out
