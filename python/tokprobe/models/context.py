"""One llama.cpp context of a loaded model: creating, growing and freeing it, its batch, decoding, logits views.

A :class:`LlamaContext` owns one ``llama_context *`` and one ``llama_batch`` (allocated once per
context with ``llama_batch_init``), exposed as numpy views (``tok``, ``pos``, ``flags``) that the
evaluator and the generator fill in place. Only one evaluation or generation uses it at a time:
each takes the context with :meth:`claim` and checks it still holds it with :meth:`check_owner`.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from ..errors import Error
from . import _llama
from .vocab import ModelHandle

MAX_SEQ = 64  # sequences per decode in logits_for_contexts (llama.cpp allows 256)
# Output rows per evaluator decode. llama.cpp's output buffer grows to the most rows a decode asked for
# (never shrinks) and its compute buffer is touched only as far as a graph's logits reach, so bounding
# the rows per decode bounds both: 64 rows of gemma3's 262,144 logits are 64 MiB each. (Its
# ``n_outputs_max`` context parameter is not used: a decode asking for more rows than it aborts.)
OUT_ROWS = 64


class LlamaContext:
    """The context and batch of one model; ``n_ctx``/``n_batch`` are the requested sizes until the
    context is made, then the sizes llama.cpp gave it."""

    def __init__(self, handle: ModelHandle, *, label: str, n_ctx: int, n_batch: int, threads: int,
                 flash_attn: bool) -> None:
        self.handle = handle
        self.lib: Any = handle.lib
        self.label = label  # for error messages (the GGUF file name)
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.threads = threads
        self.flash_attn = flash_attn
        self.ptr: Any = None  # llama_context *
        self.batch: Any = None  # llama_batch
        self.cap = 0  # tokens the batch holds
        self.n_seq_max = 0
        self.out_rows = OUT_ROWS  # at most this many output rows per evaluator decode
        self.owner: object | None = None  # the iterator or call currently using the context
        self.seq_dirty = False
        self.tok = self.pos = self.nseq = self.flags = self.arange = np.zeros(0, dtype=np.int32)

    # -- lifecycle ------------------------------------------------------------------------------------
    def free(self) -> None:
        """Free the batch and the context (logits views become invalid)."""
        lib = self.lib
        if self.batch is not None:
            lib.llama_batch_free(self.batch)
            self.batch = None
        if self.ptr is not None:
            lib.llama_free(self.ptr)
            self.ptr = None
        self.owner = None

    def __del__(self) -> None:
        try:
            self.free()
        except Exception:  # interpreter shutdown
            pass

    def make(self, n_ctx: int, n_batch: int) -> None:
        """(Re)create the context with ``n_ctx`` cells and batches of up to ``n_batch`` tokens."""
        self.handle.check()
        lib = self.lib
        self.free()
        n_batch = min(n_batch, n_ctx)
        cp = lib.llama_context_default_params()
        cp.n_ctx = n_ctx
        cp.n_batch = n_batch
        cp.n_ubatch = n_batch  # one physical batch per decode: all requested rows in one output buffer
        cp.n_seq_max = min(MAX_SEQ, max(1, n_batch))
        self.out_rows = min(OUT_ROWS, n_batch)
        cp.kv_unified = True  # sequences share the n_ctx cells (logits_for_contexts)
        cp.n_threads = self.threads
        cp.n_threads_batch = self.threads
        cp.embeddings = False
        cp.no_perf = True
        # Flash attention off by default: on CPU its results depend systematically on how many rows
        # a batch has (up to ~3 logits / KL 0.05 nats on gemma3 Q4_K_M). Without it, the same
        # window decoded in one call or in any full-output batches mostly agrees bit for bit; what
        # remains is sporadic (see Model.evaluate).
        cp.flash_attn_type = 1 if self.flash_attn else 0
        _llama.clear_errors()
        ctx = lib.llama_init_from_model(self.handle.model, cp)
        if not ctx:
            raise Error(f"{self.label}: llama.cpp could not create a context (n_ctx={n_ctx}, "
                        f"n_batch={n_batch}): {_llama.last_error('unknown error')}")
        self.ptr = ctx
        self.n_ctx = int(lib.llama_n_ctx(ctx))
        self.n_batch = int(lib.llama_n_batch(ctx))
        self.n_seq_max = int(cp.n_seq_max)
        self._make_batch(self.n_batch)

    def _make_batch(self, cap: int) -> None:
        self.batch = b = self.lib.llama_batch_init(cap, 0, 1)
        self.cap = cap
        self.tok = np.ctypeslib.as_array(b.token, shape=(cap,))
        self.pos = np.ctypeslib.as_array(b.pos, shape=(cap,))
        self.nseq = np.ctypeslib.as_array(b.n_seq_id, shape=(cap,))
        self.flags = np.ctypeslib.as_array(b.logits, shape=(cap,))
        self.nseq[:] = 1
        for i in range(cap):
            b.seq_id[i][0] = 0
        self.seq_dirty = False
        self.arange = np.arange(cap, dtype=np.int32)

    def ensure(self, n_ctx: int, n_batch: int) -> None:
        """Grow the context (never shrink it) so that it holds ``n_ctx`` cells and ``n_batch``-token batches."""
        self.handle.check()
        if self.ptr is None or n_ctx > self.n_ctx or n_batch > self.n_batch:
            self.make(max(n_ctx, self.n_ctx), max(n_batch, self.n_batch))

    # -- one user at a time ---------------------------------------------------------------------------
    def claim(self) -> object:
        token = object()
        self.owner = token
        return token

    def check_owner(self, token: object) -> None:
        if self.owner is not token:
            raise Error("the model was used by another evaluation or generation; this iterator is no longer valid")

    # -- decoding -------------------------------------------------------------------------------------
    def clear_memory(self) -> None:
        lib = self.lib
        lib.llama_memory_clear(lib.llama_get_memory(self.ptr), True)

    def reset_seq_ids(self) -> None:
        """Put every batch slot back in sequence 0 (after :meth:`set_seq_ids` packed several)."""
        if self.seq_dirty:
            b = self.batch
            for i in range(self.cap):
                b.seq_id[i][0] = 0
            self.seq_dirty = False

    def set_seq_ids(self, lo: int, hi: int, seq: int) -> None:
        """Put batch slots [lo, hi) in sequence ``seq``."""
        b = self.batch
        for j in range(lo, hi):
            b.seq_id[j][0] = seq
        self.seq_dirty = True

    def decode(self, n: int) -> None:
        """``llama_decode`` of the first ``n`` batch slots."""
        self.batch.n_tokens = n
        rc = self.lib.llama_decode(self.ptr, self.batch)
        if rc != 0:
            raise Error(f"llama_decode failed (code {rc}): {_llama.last_error('no details')}")

    def prefill(self, ids: np.ndarray, *, all_rows: bool) -> int:
        """Decode ``ids`` into a cleared KV cache (sequence 0) in batches. The last batch outputs all
        its rows (``all_rows``: as the evaluator does, so its last row equals the evaluator's) or only
        its last row (cheaper: one row of the output layer). Returns the number of output rows."""
        tok, pos, flags, arange = self.tok, self.pos, self.flags, self.arange
        cap = self.cap
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
            self.decode(nb)
        return n_out

    def logits_view(self, n_rows: int, n_vocab: int) -> np.ndarray:
        """Read-only float32 [n_rows, n_vocab] view of llama.cpp's output buffer (no copy). The view
        holds a reference to this context, so garbage collection cannot free the buffer under it."""
        ptr = self.lib.llama_get_logits(self.ptr)
        addr = ctypes.cast(ptr, ctypes.c_void_p).value
        if not addr:
            raise Error("llama.cpp returned no logits buffer")
        raw: Any = (ctypes.c_float * (n_rows * n_vocab)).from_address(addr)
        raw._tokprobe_context = self
        view = np.frombuffer(raw, dtype=np.float32).reshape(n_rows, n_vocab)
        view.flags.writeable = False
        return view
