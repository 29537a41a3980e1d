"""A loaded GGUF model: its lifecycle, its llama.cpp context, metadata and tokenizer.

:class:`Model` is the one object analyses hold. It keeps what belongs to one loaded model and
delegates each job to the module that owns it, in one line per public method:

- ``context.py``     the llama.cpp context and batch (created, grown, freed), decode, logits views
- ``evaluation.py``  the streaming evaluator and next-token logits after given contexts
- ``generation.py``  sampling, stop sequences, chat prompts
- ``info.py``        :class:`ModelInfo` (header + vocabulary metadata)
- ``loading.py``     :func:`load` / :func:`model_info` (names and paths to a Model)
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import provenance
from ..cache import file_sha256
from ..errors import InputError
from . import evaluation, generation
from .context import LlamaContext
from .evaluation import EvalBatch
from .generation import Generation
from .gguf_file import GGUFHeader
from .info import ModelInfo, build_info
from .vocab import ModelHandle, Vocab


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
        self._info: ModelInfo | None = None
        self._desc: str | None = None
        self.context = LlamaContext(handle, label=path.name, n_ctx=n_ctx, n_batch=n_batch, threads=threads,
                                    flash_attn=flash_attn)
        if not vocab_only:
            self.context.make(n_ctx, n_batch)

    # -- lifecycle ------------------------------------------------------------------------------------
    def close(self) -> None:
        """Free the context, the batch and the weights. Logits views become invalid."""
        self.context.free()
        if self._h is not None:
            self._h.free()

    def share_vocab_with(self, full: Model) -> None:
        """While ``full`` (a full load of the same file) is open, this vocab-only model uses its
        llama.cpp model and frees its own copy of the vocabulary (reloaded after ``full`` is closed)."""
        if self.vocab_only and not full.vocab_only and self.path == full.path and full._h is not None:
            self._h.borrow(full._h)

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Model({self.name!r}, n_vocab={self.n_vocab}, n_ctx={self.n_ctx}, n_batch={self.n_batch}, "
                f"threads={self.threads}{', vocab_only' if self.vocab_only else ''})")

    # -- context --------------------------------------------------------------------------------------
    @property
    def n_ctx(self) -> int:
        """Context length: as asked for until the context exists, then llama.cpp's (it only grows)."""
        return self.context.n_ctx

    @property
    def n_batch(self) -> int:
        """Tokens per ``llama_decode`` the context takes (at most ``n_ctx``)."""
        return self.context.n_batch

    def ensure_context(self, n_ctx: int, n_batch: int) -> LlamaContext:
        """The llama context, grown to at least ``n_ctx`` cells and ``n_batch``-token batches."""
        if self.vocab_only:
            raise InputError(f"{self.name}: loaded with vocab_only=True; load it without vocab_only to evaluate")
        self.context.ensure(n_ctx, n_batch)
        return self.context

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
                 start_window: int = 0, file_starts: Sequence[int] | None = None) -> Iterator[EvalBatch]:
        """Stream the logits of every scored position of ``ids`` (see :func:`plan_windows`).

        ``n_ctx``: window length (default: the model's); ``batch``: tokens per ``llama_decode``
        (default: ``min(n_batch, n_ctx)``, and ``n_ctx // 2`` for scheme 'llama' when that fits,
        so the unscored first half of a chunk is one decode). Rows before a window's first scored row
        are decoded without output; the scored rows in decodes of at most ``OUT_ROWS`` (64) tokens that
        output every row, so only scored rows reach the output layer and llama.cpp's logits buffers hold
        64 rows whatever ``batch`` is. The context grows if a larger one is asked for. ``start_window``
        skips the windows before it (windows are independent: each starts from an empty KV cache), for
        resuming. Arguments are checked before the first
        batch is produced.

        Reproducibility: the same ids, windows and ``batch`` give bit-identical logits. A different
        ``batch`` can change some logits slightly: llama.cpp's CPU matmul kernels depend on the number
        of rows in a decode, and on models with large activation outliers (gemma3) a rounding flip
        in the activation quantization can move a row's logits by ~1 (KL ~1e-3..5e-2 nats) at
        sporadic positions. With ``batch >= n_ctx`` each window is one ``llama_decode`` and equals a
        one-call evaluation of that window exactly. Compare models with the same settings.
        ``file_starts``: the stream offset of each file's first token, for scheme 'file'.
        """
        return evaluation.evaluate(self, ids, n_ctx=n_ctx, batch=batch, scheme=scheme, stride=stride,
                                   progress=progress, start_window=start_window, file_starts=file_starts)

    def logits_after(self, context_ids: Any) -> np.ndarray:
        """float32[V] (a copy): the next-token logits after ``context_ids`` in a fresh context (cold start).

        Decoded like the evaluator (all rows of the last batch output), so the result equals the
        evaluator's row for the same tokens and batching; this costs one output-layer row per context
        token: for many contexts use :meth:`logits_for_contexts`."""
        return evaluation.logits_after(self, context_ids)

    def logits_all(self, ids: Any) -> np.ndarray:
        """float32[n, V] (a copy): the logits of every position of ``ids`` in a fresh context, decoded
        in ONE ``llama_decode`` call (the batch grows to ``len(ids)``). A reference for the evaluator."""
        return evaluation.logits_all(self, ids)

    def logits_for_contexts(self, contexts: Sequence[Any]) -> np.ndarray:
        """float32[n, V]: next-token logits after each context, decoded as separate sequences packed
        into as few ``llama_decode`` calls as fit (one, when they fit in a batch), with one output
        row per context. Equal to :meth:`logits_after` up to llama.cpp's kernel rounding (different
        row counts and KV layout), not bit for bit."""
        return evaluation.logits_for_contexts(self, contexts)

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
        return generation.generate(self, prompt, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                                   seed=seed, stop=stop, special=special)

    def chat_prompt(self, user_text: str, system: str | None = None) -> str | None:
        """The prompt for one user turn rendered with the GGUF chat template (llama.cpp's built-in
        template engine), ending with the assistant's turn; None if the model has no usable template."""
        return generation.chat_prompt(self._h, user_text, system)
