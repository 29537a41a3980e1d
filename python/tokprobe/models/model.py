"""Loading a GGUF model through llama.cpp's low-level API, streaming evaluation and generation.

The evaluator never copies logits: after each ``llama_decode`` it wraps llama.cpp's own output
buffer (``llama_get_logits``) in a float32 numpy view ``[rows, n_vocab]`` and yields it. Only the
rows that are scored are requested from llama.cpp, so the buffer holds exactly those rows, in order.
Memory is O(batch x vocab) whatever the length of the text: one context, one ``llama_batch``
(allocated once per context with ``llama_batch_init``), one output buffer owned by llama.cpp.
"""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .. import provenance
from ..errors import EmptyInputError, Error, FileFormatError, InputError
from . import _llama
from .gguf_file import GGUFHeader, validate_gguf
from .registry import file_sha256, resolve
from .vocab import ModelHandle, Vocab, as_token_array

SCHEMES = ("llama", "sliding")
STOP_REASONS = ("stop", "length", "eos")
_MAX_SEQ = 64  # sequences per decode in logits_for_contexts (llama.cpp allows 256)


# -- result types -----------------------------------------------------------------------------------
@dataclass
class EvalBatch:
    """One batch of scored rows. ``logits`` is a read-only view of llama.cpp's buffer, valid until the
    iterator advances (copy it to keep it). Row ``r`` is the distribution after ``ids[positions[r]]``,
    i.e. the prediction of ``targets[r] == ids[positions[r] + 1]``."""

    logits: np.ndarray  # float32 [rows, n_vocab], zero-copy
    positions: np.ndarray  # int64 [rows], index into ids
    targets: np.ndarray  # int32 [rows]
    window: int  # index of the window (chunk) this batch belongs to
    window_pos: np.ndarray  # int32 [rows], position inside the window (context length - 1)

    @property
    def rows(self) -> int:
        return int(self.positions.shape[0])


@dataclass(frozen=True)
class Window:
    """A planned window: ids[start:end] (first token replaced by BOS if ``bos_first``), rows
    (local indices) [lo, hi) scored; only tokens [0, hi) need decoding."""

    index: int
    start: int
    end: int
    bos_first: bool
    lo: int
    hi: int

    @property
    def n_scored(self) -> int:
        return self.hi - self.lo


@dataclass
class Generation:
    text: str
    token_ids: list[int]
    n_prompt_tokens: int
    stop_reason: str  # 'stop' | 'length' | 'eos'
    stop_sequence: str | None = None
    seed: int = 0
    temperature: float = 0.0
    top_p: float = 1.0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelInfo:
    """Metadata of a GGUF model (header + llama.cpp's view of the vocabulary)."""

    name: str
    path: str
    arch: str | None
    n_params: int
    file_type: str | None
    file_type_id: int | None
    bits_per_weight: float | None
    file_size: int
    n_vocab: int
    vocab_type: str
    pre_tokenizer: str
    bos_id: int
    eos_id: int
    eot_id: int
    add_bos: bool
    add_eos: bool
    has_chat_template: bool
    sha256: str
    general_name: str | None = None
    description: str | None = None
    n_ctx_train: int | None = None
    n_embd: int | None = None
    n_layer: int | None = None
    n_head: int | None = None
    n_head_kv: int | None = None
    gguf_version: int = 3
    n_tensors: int = 0
    tensor_types: dict[str, int] = field(default_factory=dict)
    kind_counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _int_or_none(v: Any) -> int | None:
    try:
        return int(v) if v is not None and not isinstance(v, (str, list)) and np.ndim(v) == 0 else None
    except (TypeError, ValueError):
        return None


def build_info(name: str, header: GGUFHeader, vocab: Vocab, sha256: str, description: str | None) -> ModelInfo:
    return ModelInfo(
        name=name,
        path=str(header.path),
        arch=header.arch,
        n_params=header.n_params,
        file_type=header.file_type,
        file_type_id=header.file_type_id,
        bits_per_weight=header.bits_per_weight,
        file_size=header.file_size,
        n_vocab=vocab.n_vocab,
        vocab_type=vocab.type,
        pre_tokenizer=vocab.pre,
        bos_id=vocab.bos_id,
        eos_id=vocab.eos_id,
        eot_id=vocab.eot_id,
        add_bos=vocab.add_bos,
        add_eos=vocab.add_eos,
        has_chat_template=header.has_chat_template,
        sha256=sha256,
        general_name=header.kv.get("general.name") if isinstance(header.kv.get("general.name"), str) else None,
        description=description,
        n_ctx_train=_int_or_none(header.arch_value("context_length")),
        n_embd=_int_or_none(header.arch_value("embedding_length")),
        n_layer=_int_or_none(header.arch_value("block_count")),
        n_head=_int_or_none(header.arch_value("attention.head_count")),
        n_head_kv=_int_or_none(header.arch_value("attention.head_count_kv")),
        gguf_version=header.version,
        n_tensors=header.n_tensors,
        tensor_types=header.tensor_type_counts(),
        kind_counts=vocab.kind_counts(),
    )


# -- window planning (pure) -------------------------------------------------------------------------
def plan_windows(n_tokens: int, n_ctx: int, *, scheme: str = "llama", stride: int | None = None,
                 add_bos: bool = False) -> list[Window]:
    """The windows an evaluation visits.

    ``llama``: llama.cpp's perplexity/KL scheme: consecutive chunks of ``n_ctx`` tokens (a partial
    last chunk is dropped), the first token of each chunk replaced by BOS when the vocabulary adds
    BOS, rows ``j`` in ``[n_ctx//2, n_ctx-2]`` scored.

    ``sliding``: windows of ``n_ctx`` tokens starting every ``stride`` tokens (default ``n_ctx//2``);
    every target ``ids[1:]`` is scored exactly once, by the first window that contains its context
    end. When the vocabulary adds BOS, windows after the first start with BOS (replacing their first
    token, whose row is then not scored), so ``stride`` may be at most ``n_ctx - 1``.
    """
    if scheme not in SCHEMES:
        raise InputError(f"unknown scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    if n_tokens < 2:
        raise EmptyInputError(f"need at least 2 tokens to score anything, got {n_tokens}")
    out: list[Window] = []
    if scheme == "llama":
        if n_ctx < 4:
            raise InputError(f"n_ctx must be at least 4 for scheme 'llama', got {n_ctx}")
        if stride is not None:
            raise InputError("stride applies to scheme 'sliding' only")
        n_chunks = n_tokens // n_ctx
        if n_chunks == 0:
            raise EmptyInputError(f"scheme 'llama' needs at least n_ctx={n_ctx} tokens, the text has {n_tokens}; "
                                  "use a smaller n_ctx or scheme 'sliding'")
        for c in range(n_chunks):
            out.append(Window(c, c * n_ctx, (c + 1) * n_ctx, add_bos, n_ctx // 2, n_ctx - 1))
        return out
    if n_ctx < 2:
        raise InputError(f"n_ctx must be at least 2, got {n_ctx}")
    shift = 1 if add_bos else 0
    max_stride = n_ctx - shift
    if stride is None:
        stride = max(1, n_ctx // 2)
    if not 1 <= stride <= max_stride:
        raise InputError(f"stride must be in [1, {max_stride}] for n_ctx={n_ctx}"
                         + (" (windows after the first start with BOS)" if shift else "") + f", got {stride}")
    scored_until = 0  # next position to score
    start = 0
    while scored_until <= n_tokens - 2:
        end = min(start + n_ctx, n_tokens)
        bos_first = bool(shift) and start > 0
        lo = max(scored_until, start + (1 if bos_first else 0)) - start
        hi = min(end, n_tokens - 1) - start
        out.append(Window(len(out), start, end, bos_first, lo, hi))
        scored_until = start + hi
        start += stride
    return out


# -- the model --------------------------------------------------------------------------------------
class Model:
    """A loaded GGUF model. Not thread-safe; one evaluation or generation at a time.

    Logits views yielded by :meth:`evaluate` point into llama.cpp's memory: they are valid until the
    iterator advances, another call decodes on this model, or the model is closed.
    """

    def __init__(self, path: Path, name: str, header: GGUFHeader, handle: ModelHandle, *, threads: int,
                 n_ctx: int, n_batch: int, seed: int, vocab_only: bool, flash_attn: bool = False) -> None:
        self.path = path
        self.name = name
        self.header = header
        self._h = handle
        self._lib = handle.lib
        self.threads = threads
        self.seed = seed
        self.vocab_only = vocab_only
        self.flash_attn = flash_attn
        self.vocab = Vocab(handle, header)
        self.n_vocab = self.vocab.n_vocab
        self._ctx: Any = None
        self._batch: Any = None
        self._batch_cap = 0
        self._ctx_n_ctx = 0
        self._ctx_n_batch = 0
        self._owner: object | None = None  # the iterator currently using the context
        self._info: ModelInfo | None = None
        self._desc: str | None = None
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        if not vocab_only:
            self._make_context(n_ctx, n_batch)

    # -- lifecycle ------------------------------------------------------------------------------------
    def _free_context(self) -> None:
        lib = self._lib
        if self._batch is not None:
            lib.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx is not None:
            lib.llama_free(self._ctx)
            self._ctx = None
        self._owner = None

    def close(self) -> None:
        """Free the context, the batch and the weights. Logits views become invalid."""
        self._free_context()
        if self._h is not None:
            self._h.free()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._free_context()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"Model({self.name!r}, n_vocab={self.n_vocab}, n_ctx={self.n_ctx}, n_batch={self.n_batch}, "
                f"threads={self.threads}{', vocab_only' if self.vocab_only else ''})")

    def _make_context(self, n_ctx: int, n_batch: int) -> None:
        self._h.check()
        lib = self._lib
        self._free_context()
        n_batch = min(n_batch, n_ctx)
        cp = lib.llama_context_default_params()
        cp.n_ctx = n_ctx
        cp.n_batch = n_batch
        cp.n_ubatch = n_batch  # one physical batch per decode: all requested rows in one output buffer
        cp.n_seq_max = min(_MAX_SEQ, max(1, n_batch))
        cp.kv_unified = True  # sequences share the n_ctx cells (logits_for_contexts)
        cp.n_threads = self.threads
        cp.n_threads_batch = self.threads
        cp.embeddings = False
        cp.no_perf = True
        # Flash attention off by default: on CPU its results depend systematically on how many rows
        # a batch has (up to ~3 logits / KL 0.05 nats on gemma3 Q4_K_M). Without it, the same
        # window decoded in one call or in any full-output batches mostly agrees bit for bit; what
        # remains is sporadic (see evaluate()).
        cp.flash_attn_type = 1 if self.flash_attn else 0
        _llama.clear_errors()
        ctx = lib.llama_init_from_model(self._h.model, cp)
        if not ctx:
            raise Error(f"{self.path.name}: llama.cpp could not create a context (n_ctx={n_ctx}, "
                        f"n_batch={n_batch}): {_llama.last_error('unknown error')}")
        self._ctx = ctx
        self._ctx_n_ctx = int(lib.llama_n_ctx(ctx))
        self._ctx_n_batch = int(lib.llama_n_batch(ctx))
        self._n_seq_max = int(cp.n_seq_max)
        cap = self._ctx_n_batch
        self._batch = lib.llama_batch_init(cap, 0, 1)
        self._batch_cap = cap
        b = self._batch
        self._tok = np.ctypeslib.as_array(b.token, shape=(cap,))
        self._pos = np.ctypeslib.as_array(b.pos, shape=(cap,))
        self._nseq = np.ctypeslib.as_array(b.n_seq_id, shape=(cap,))
        self._flags = np.ctypeslib.as_array(b.logits, shape=(cap,))
        self._nseq[:] = 1
        for i in range(cap):
            b.seq_id[i][0] = 0
        self._seq_dirty = False
        self._arange = np.arange(cap, dtype=np.int32)
        self.n_ctx = self._ctx_n_ctx
        self.n_batch = self._ctx_n_batch

    def _ensure_context(self, n_ctx: int, n_batch: int) -> None:
        if self.vocab_only:
            raise InputError(f"{self.name}: loaded with vocab_only=True; load it without vocab_only to evaluate")
        self._h.check()
        if self._ctx is None or n_ctx > self._ctx_n_ctx or n_batch > self._ctx_n_batch:
            self._make_context(max(n_ctx, self._ctx_n_ctx), max(n_batch, self._ctx_n_batch))

    def _claim(self) -> object:
        token = object()
        self._owner = token
        return token

    def _check_owner(self, token: object) -> None:
        if self._owner is not token:
            raise Error("the model was used by another evaluation or generation; this iterator is no longer valid")

    def _clear_memory(self) -> None:
        lib = self._lib
        lib.llama_memory_clear(lib.llama_get_memory(self._ctx), True)

    def _reset_seq_ids(self) -> None:
        if self._seq_dirty:
            b = self._batch
            for i in range(self._batch_cap):
                b.seq_id[i][0] = 0
            self._seq_dirty = False

    def _decode(self, n: int) -> None:
        self._batch.n_tokens = n
        rc = self._lib.llama_decode(self._ctx, self._batch)
        if rc != 0:
            raise Error(f"llama_decode failed (code {rc}): {_llama.last_error('no details')}")

    def _logits_view(self, n_rows: int) -> np.ndarray:
        """Read-only float32 [n_rows, n_vocab] view of llama.cpp's output buffer (no copy). The view
        holds a reference to this Model, so garbage collection cannot free the buffer under it."""
        ptr = self._lib.llama_get_logits(self._ctx)
        addr = ctypes.cast(ptr, ctypes.c_void_p).value
        if not addr:
            raise Error("llama.cpp returned no logits buffer")
        raw = (ctypes.c_float * (n_rows * self.n_vocab)).from_address(addr)
        raw._tokprobe_model = self  # type: ignore[attr-defined]
        view = np.frombuffer(raw, dtype=np.float32).reshape(n_rows, self.n_vocab)
        view.flags.writeable = False
        return view

    # -- metadata -------------------------------------------------------------------------------------
    @property
    def sha256(self) -> str:
        return file_sha256(self.path)

    @property
    def description(self) -> str | None:
        if self._desc is None and self._h.model is not None:
            buf = ctypes.create_string_buffer(256)
            n = self._lib.llama_model_desc(self._h.model, buf, len(buf))
            self._desc = buf.value.decode("utf-8", "replace") if n > 0 else ""
        return self._desc or None

    @property
    def info(self) -> ModelInfo:
        if self._info is None:
            self._info = build_info(self.name, self.header, self.vocab, self.sha256, self.description)
        return self._info

    def provenance(self) -> dict[str, Any]:
        """What to record about this model in a result's Provenance.models."""
        i = self.info
        return {"name": self.name, "path": str(self.path), "sha256": i.sha256, "file_type": i.file_type,
                "arch": i.arch, "n_vocab": i.n_vocab, "n_params": i.n_params, "threads": self.threads,
                "n_ctx": self.n_ctx, "n_batch": self.n_batch, "seed": self.seed,
                "llama_cpp_python": provenance.llama_cpp_version()}

    # -- tokenizer ------------------------------------------------------------------------------------
    def tokenize(self, text: str | bytes, *, add_bos: bool | None = None, special: bool = False) -> np.ndarray:
        return self.vocab.tokenize(text, add_bos=add_bos, special=special)

    def detokenize(self, ids: Any, *, special: bool = False, clean_spaces: bool = False) -> bytes:
        return self.vocab.detokenize(ids, special=special, clean_spaces=clean_spaces)

    # -- evaluation -----------------------------------------------------------------------------------
    def evaluate(self, ids: Any, *, n_ctx: int | None = None, batch: int | None = None, scheme: str = "llama",
                 stride: int | None = None, progress: Callable[[int, int], None] | None = None,
                 start_window: int = 0) -> Iterator[EvalBatch]:
        """Stream the logits of every scored position of ``ids`` (see :func:`plan_windows`).

        ``n_ctx``: window length (default: the model's); ``batch``: tokens per ``llama_decode``
        (default: ``min(n_batch, n_ctx)``, and ``n_ctx // 2`` for scheme 'llama' when that fits,
        so the unscored first half of a chunk costs no output rows). The context grows if a larger
        one is asked for. ``start_window`` skips the windows before it (windows are independent:
        each starts from an empty KV cache), for resuming. Arguments are checked before the first
        batch is produced.

        Reproducibility: the same ids, windows and ``batch`` give bit-identical logits. A different
        ``batch`` can change some logits slightly: llama.cpp's CPU matmul kernels depend on the number
        of rows in a decode, and on models with large activation outliers (gemma3) a rounding flip
        in the activation quantization can move a row's logits by ~1 (KL ~1e-3..5e-2 nats) at
        sporadic positions. With ``batch >= n_ctx`` each window is one ``llama_decode`` and equals a
        one-call evaluation of that window exactly. Compare models with the same settings.
        """
        if self.vocab_only:
            raise InputError(f"{self.name}: loaded with vocab_only=True; load it without vocab_only to evaluate")
        arr = as_token_array(ids, self.n_vocab)
        n_ctx = int(n_ctx) if n_ctx is not None else self.n_ctx
        if n_ctx < 2:
            raise InputError(f"n_ctx must be at least 2, got {n_ctx}")
        if batch is None:
            batch = min(self.n_batch, n_ctx)
            if scheme == "llama" and 1 <= n_ctx // 2 <= self.n_batch:
                batch = n_ctx // 2
        batch = int(batch)
        if batch < 1:
            raise InputError(f"batch must be at least 1, got {batch}")
        batch = min(batch, n_ctx)
        windows = plan_windows(len(arr), n_ctx, scheme=scheme, stride=stride, add_bos=self.vocab.add_bos)
        if not 0 <= int(start_window) <= len(windows):
            raise InputError(f"start_window must be in [0, {len(windows)}], got {start_window}")
        windows = windows[int(start_window):]
        self._ensure_context(n_ctx, batch)
        return self._evaluate(arr, windows, batch, progress)

    def _evaluate(self, arr: np.ndarray, windows: list[Window], batch: int,
                  progress: Callable[[int, int], None] | None) -> Iterator[EvalBatch]:
        token = self._claim()
        self._reset_seq_ids()
        total = sum(w.n_scored for w in windows)
        done = 0
        bos = self.vocab.bos_id
        tok, pos, flags, arange = self._tok, self._pos, self._flags, self._arange
        if progress is not None:
            progress(0, total)
        for w in windows:
            self._check_owner(token)
            self._clear_memory()
            for k in range(0, w.hi, batch):
                self._check_owner(token)
                nb = min(batch, w.hi - k)
                tok[:nb] = arr[w.start + k:w.start + k + nb]
                if k == 0 and w.bos_first:
                    tok[0] = bos
                pos[:nb] = arange[:nb] + k
                first = max(w.lo - k, 0)  # first scored row in this batch
                n_out = nb - first
                # A batch with any scored row outputs ALL its rows: the last layer then runs on the
                # same rows as a plain full-output decode, so a row's logits do not depend on which
                # rows are scored (llama.cpp's CPU kernels are row-count dependent otherwise).
                # Batches with no scored row output nothing (the KV cache is the same either way).
                flags[:nb] = 1 if n_out > 0 else 0
                self._decode(nb)
                if n_out <= 0:
                    continue
                local = np.arange(k + first, k + nb, dtype=np.int32)
                positions = local.astype(np.int64) + w.start
                yield EvalBatch(
                    logits=self._logits_view(nb)[first:],
                    positions=positions,
                    targets=arr[positions + 1],
                    window=w.index,
                    window_pos=local,
                )
                done += n_out
                if progress is not None:
                    progress(done, total)

    def _prefill(self, ids: np.ndarray, *, all_rows: bool) -> int:
        """Decode ``ids`` into a cleared KV cache (sequence 0) in batches. The last batch outputs all
        its rows (``all_rows``: as the evaluator does, so its last row equals the evaluator's) or only
        its last row (cheaper: one row of the output layer). Returns the number of output rows."""
        tok, pos, flags, arange = self._tok, self._pos, self._flags, self._arange
        cap = self._batch_cap
        n = len(ids)
        n_out = 0
        for k in range(0, n, cap):
            nb = min(cap, n - k)
            tok[:nb] = ids[k:k + nb]
            pos[:nb] = arange[:nb] + k
            flags[:nb] = 0
            if k + nb == n:
                if all_rows:
                    flags[:nb] = 1
                    n_out = nb
                else:
                    flags[nb - 1] = 1
                    n_out = 1
            self._decode(nb)
        return n_out

    def logits_after(self, context_ids: Any) -> np.ndarray:
        """float32[V] (a copy): the next-token logits after ``context_ids`` in a fresh context (cold start).

        Decoded like the evaluator (all rows of the last batch output), so the result equals the
        evaluator's row for the same tokens and batching; this costs one output-layer row per context
        token: for many contexts use :meth:`logits_for_contexts`."""
        arr = as_token_array(context_ids, self.n_vocab, "context ids")
        if arr.size == 0:
            raise EmptyInputError("logits_after needs at least one context token (e.g. BOS)")
        self._ensure_context(int(arr.size), 1)
        self._claim()
        self._reset_seq_ids()
        self._clear_memory()
        nb = self._prefill(arr, all_rows=True)
        out = self._logits_view(nb)[nb - 1].copy()
        self._claim()
        return out

    def logits_all(self, ids: Any) -> np.ndarray:
        """float32[n, V] (a copy): the logits of every position of ``ids`` in a fresh context, decoded
        in ONE ``llama_decode`` call (the batch grows to ``len(ids)``). A reference for the evaluator."""
        arr = as_token_array(ids, self.n_vocab)
        if arr.size == 0:
            raise EmptyInputError("logits_all needs at least one token")
        n = int(arr.size)
        self._ensure_context(n, n)
        self._claim()
        self._reset_seq_ids()
        self._clear_memory()
        self._tok[:n] = arr
        self._pos[:n] = self._arange[:n]
        self._flags[:n] = 1
        self._decode(n)
        out = self._logits_view(n).copy()
        self._claim()
        return out

    def logits_for_contexts(self, contexts: Sequence[Any]) -> np.ndarray:
        """float32[n, V]: next-token logits after each context, decoded as separate sequences packed
        into as few ``llama_decode`` calls as fit (one, when they fit in a batch), with one output
        row per context. Equal to :meth:`logits_after` up to llama.cpp's kernel rounding (different
        row counts and KV layout), not bit for bit."""
        arrs = [as_token_array(c, self.n_vocab, f"context {i}") for i, c in enumerate(contexts)]
        for i, a in enumerate(arrs):
            if a.size == 0:
                raise EmptyInputError(f"context {i} is empty; give at least one token (e.g. BOS)")
        out = np.empty((len(arrs), self.n_vocab), dtype=np.float32)
        if not arrs:
            return out
        self._ensure_context(max(a.size for a in arrs), 1)
        self._claim()
        cap, n_ctx, max_seq = self._batch_cap, self._ctx_n_ctx, self._n_seq_max
        i = 0
        b = self._batch
        while i < len(arrs):
            if arrs[i].size > cap:  # a context longer than a batch: decode it on its own
                self._reset_seq_ids()
                self._clear_memory()
                nb = self._prefill(arrs[i], all_rows=False)
                out[i] = self._logits_view(nb)[nb - 1]
                i += 1
                continue
            group = []
            used = 0
            while (i + len(group) < len(arrs) and len(group) < max_seq
                   and used + arrs[i + len(group)].size <= min(cap, n_ctx)):
                used += arrs[i + len(group)].size
                group.append(arrs[i + len(group)])
            self._clear_memory()
            r = 0
            for s, a in enumerate(group):
                m = a.size
                self._tok[r:r + m] = a
                self._pos[r:r + m] = self._arange[:m]
                self._flags[r:r + m] = 0
                self._flags[r + m - 1] = 1  # one output row per sequence, in order
                for j in range(r, r + m):
                    b.seq_id[j][0] = s
                r += m
            self._seq_dirty = True
            self._decode(r)
            out[i:i + len(group)] = self._logits_view(len(group))
            i += len(group)
        self._reset_seq_ids()
        self._claim()
        return out

    # -- generation -----------------------------------------------------------------------------------
    def generate(self, prompt: str | Sequence[int] | np.ndarray, *, max_tokens: int = 256, temperature: float = 0.0,
                 top_p: float = 1.0, seed: int | None = None, stop: Sequence[str] = (),
                 special: bool = True) -> Generation:
        """Generate a continuation through llama.cpp's sampler chain.

        ``temperature`` 0 = greedy; otherwise top-p (if < 1), temperature and a seeded draw
        (``seed`` defaults to the model's seed). A string prompt is tokenized with the vocabulary's
        BOS rule and ``special`` (parse special-token text, as chat prompts need). Generation stops at
        an end-of-generation token ('eos'), the first stop sequence ('stop'; the text is cut before
        it), or ``max_tokens`` or the context size ('length').
        """
        if isinstance(prompt, str):
            ids = self.tokenize(prompt, special=special)
        else:
            ids = as_token_array(prompt, self.n_vocab, "prompt ids")
        if ids.size == 0:
            raise EmptyInputError("empty prompt; give at least one token")
        if max_tokens < 0:
            raise InputError(f"max_tokens must be >= 0, got {max_tokens}")
        if temperature < 0 or not np.isfinite(temperature):
            raise InputError(f"temperature must be >= 0, got {temperature}")
        if not 0.0 < top_p <= 1.0:
            raise InputError(f"top_p must be in (0, 1], got {top_p}")
        if isinstance(stop, str):
            stop = (stop,)
        stops = [s for s in stop if s]
        seed = self.seed if seed is None else int(seed)
        n_ctx_train = self.info.n_ctx_train or self.n_ctx
        need = int(ids.size) + max_tokens
        self._ensure_context(min(max(need, self.n_ctx), max(n_ctx_train, self.n_ctx)), 1)
        if ids.size >= self._ctx_n_ctx:
            raise InputError(f"prompt of {ids.size} tokens does not fit the context of {self._ctx_n_ctx}")
        lib = self._lib
        t0 = time.perf_counter()
        self._claim()
        self._reset_seq_ids()
        self._clear_memory()
        self._prefill(ids, all_rows=False)  # one output row: the prompt's last
        chain = self._make_sampler(temperature, top_p, seed)
        out_ids: list[int] = []
        out_bytes = bytearray()
        reason = "length"
        matched: str | None = None
        text = ""
        try:
            n_past = int(ids.size)
            max_stop = max((len(s) for s in stops), default=0)
            while len(out_ids) < max_tokens:
                t = int(lib.llama_sampler_sample(chain, self._ctx, -1))
                if self.vocab.is_eog(t):
                    reason = "eos"
                    break
                out_ids.append(t)
                out_bytes += self.vocab.token_to_piece(t, special=False)
                if stops:
                    text = out_bytes.decode("utf-8", "replace")
                    lo = max(0, len(text) - max_stop - 16)
                    hits = [(text.find(s, lo), s) for s in stops]
                    hits = [(p, s) for p, s in hits if p >= 0]
                    if hits:
                        p, matched = min(hits)
                        text = text[:p]
                        reason = "stop"
                        break
                if len(out_ids) >= max_tokens or n_past >= self._ctx_n_ctx:
                    reason = "length"
                    break
                self._tok[0] = t
                self._pos[0] = n_past
                self._flags[0] = 1
                self._decode(1)
                n_past += 1
        finally:
            lib.llama_sampler_free(chain)
            self._claim()
        if reason != "stop":
            text = out_bytes.decode("utf-8", "replace")
        return Generation(text=text, token_ids=out_ids, n_prompt_tokens=int(ids.size), stop_reason=reason,
                          stop_sequence=matched, seed=seed, temperature=float(temperature), top_p=float(top_p),
                          seconds=time.perf_counter() - t0)

    def _make_sampler(self, temperature: float, top_p: float, seed: int) -> Any:
        lib = self._lib
        sp = lib.llama_sampler_chain_default_params()
        chain = lib.llama_sampler_chain_init(sp)
        if temperature == 0.0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        else:
            if top_p < 1.0:
                lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_top_p(float(top_p), 1))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_temp(float(temperature)))
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        return chain

    def chat_prompt(self, user_text: str, system: str | None = None) -> str | None:
        """The prompt for one user turn rendered with the GGUF chat template (llama.cpp's built-in
        template engine), ending with the assistant's turn; None if the model has no usable template."""
        self._h.check()
        lib = self._lib
        tmpl = lib.llama_model_chat_template(self._h.model, None)
        if not tmpl:
            return None
        msgs = []
        if system is not None:
            msgs.append((b"system", system.encode("utf-8")))
        msgs.append((b"user", user_text.encode("utf-8")))
        arr = (lib.llama_chat_message * len(msgs))()
        keep = []
        for i, (role, content) in enumerate(msgs):
            r, c = ctypes.c_char_p(role), ctypes.c_char_p(content)
            keep += [r, c]
            arr[i].role = role
            arr[i].content = content
        size = 1024 + sum(len(c) for _, c in msgs) * 2
        buf = ctypes.create_string_buffer(size)
        n = lib.llama_chat_apply_template(tmpl, arr, len(msgs), True, buf, size)
        if n < 0:
            return None
        if n > size:
            buf = ctypes.create_string_buffer(n + 1)
            n = lib.llama_chat_apply_template(tmpl, arr, len(msgs), True, buf, n + 1)
        return buf.raw[:n].decode("utf-8", "replace")


# -- loading ----------------------------------------------------------------------------------------
def _display_name(name_or_path: Any, path: Path) -> str:
    from .registry import MODELS, _canonical

    for spec in MODELS.values():  # a named model's file keeps its name, however it was given
        if path.name == spec.filename:
            return spec.name
    if isinstance(name_or_path, str) and not Path(name_or_path).expanduser().exists():
        return _canonical(name_or_path) if _canonical(name_or_path) in MODELS else name_or_path
    return path.stem


def _load_handle(path: Path, vocab_only: bool) -> ModelHandle:
    lib = _llama.lib()
    mp = lib.llama_model_default_params()
    mp.vocab_only = bool(vocab_only)
    mp.n_gpu_layers = 0
    _llama.clear_errors()
    model = lib.llama_model_load_from_file(os.fsencode(str(path)), mp)
    if not model:
        raise FileFormatError(f"{path}: llama.cpp could not load this GGUF file: "
                              f"{_llama.last_error('unsupported architecture or tensors')}")
    return ModelHandle(lib, model, path)


def load(name_or_path: str | os.PathLike | None = None, *, threads: int | None = None, n_ctx: int = 2048,
         n_batch: int = 512, vocab_only: bool = False, seed: int = 0, flash_attn: bool = False) -> Model:
    """Open a model by name ('gemma3-270m', 'smollm2-135m', 'gemma3-270m-Q4_0', vocab names) or path.

    The GGUF header is validated in Python first (:func:`validate_gguf`). ``threads`` defaults to the
    available cores; ``n_ctx``/``n_batch`` size the context (n_ubatch = n_batch, so a batch is decoded
    in one pass); ``vocab_only`` loads the tokenizer only; ``seed`` is the default sampling seed;
    ``flash_attn`` (off by default) makes logits depend on the batch size on CPU: see Model.
    """
    if threads is None:
        threads = provenance.available_cores()
    if int(threads) < 1:
        raise InputError(f"threads must be at least 1, got {threads}")
    if int(n_ctx) < 2:
        raise InputError(f"n_ctx must be at least 2, got {n_ctx}")
    if int(n_batch) < 1:
        raise InputError(f"n_batch must be at least 1, got {n_batch}")
    path = resolve(name_or_path)
    header = validate_gguf(path)
    handle = _load_handle(path, vocab_only)
    name = _display_name(name_or_path if name_or_path is not None else "gemma3-270m", path)
    return Model(path, name, header, handle, threads=int(threads), n_ctx=int(n_ctx),
                 n_batch=min(int(n_batch), int(n_ctx)), seed=int(seed), vocab_only=vocab_only,
                 flash_attn=bool(flash_attn))


def model_info(name_or_path: str | os.PathLike | None = None) -> ModelInfo:
    """Metadata of a model without loading its weights (header + a vocab-only load)."""
    with load(name_or_path, vocab_only=True, threads=1) as m:
        return m.info
