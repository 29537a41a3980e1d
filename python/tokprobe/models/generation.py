"""Generation with a loaded model: llama.cpp's sampler chain, stop sequences, and chat prompts.

These functions are the bodies of :meth:`Model.generate` and :meth:`Model.chat_prompt`
(documented there).
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EmptyInputError, InputError
from .context import LlamaContext
from .vocab import ModelHandle, Vocab, as_token_array

if TYPE_CHECKING:
    from .model import Model

STOP_REASONS = ("stop", "length", "eos")


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


def _check_args(max_tokens: int, temperature: float, top_p: float) -> None:
    if max_tokens < 0:
        raise InputError(f"max_tokens must be >= 0, got {max_tokens}")
    if temperature < 0 or not np.isfinite(temperature):
        raise InputError(f"temperature must be >= 0, got {temperature}")
    if not 0.0 < top_p <= 1.0:
        raise InputError(f"top_p must be in (0, 1], got {top_p}")


def generate(model: Model, prompt: str | Sequence[int] | np.ndarray, *, max_tokens: int = 256,
             temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None, stop: Sequence[str] = (),
             special: bool = True) -> Generation:
    """:meth:`Model.generate`: prefill the prompt, then sample until EOG, a stop sequence or the length limit."""
    if isinstance(prompt, str):
        ids = model.tokenize(prompt, special=special)
    else:
        ids = as_token_array(prompt, model.n_vocab, "prompt ids")
    if ids.size == 0:
        raise EmptyInputError("empty prompt; give at least one token")
    _check_args(max_tokens, temperature, top_p)
    if isinstance(stop, str):
        stop = (stop,)
    stops = [s for s in stop if s]
    seed = model.seed if seed is None else int(seed)
    n_ctx_train = model.info.n_ctx_train or model.n_ctx
    need = int(ids.size) + max_tokens
    ctx = model.ensure_context(min(max(need, model.n_ctx), max(n_ctx_train, model.n_ctx)), 1)
    if ids.size >= ctx.n_ctx:
        raise InputError(f"prompt of {ids.size} tokens does not fit the context of {ctx.n_ctx}")
    lib = ctx.lib
    t0 = time.perf_counter()
    ctx.claim()
    ctx.reset_seq_ids()
    ctx.clear_memory()
    ctx.prefill(ids, all_rows=False)  # one output row: the prompt's last
    chain = make_sampler(lib, temperature, top_p, seed)
    try:
        out_ids, text, reason, matched = _sample(ctx, model.vocab, chain, int(ids.size), max_tokens, stops)
    finally:
        lib.llama_sampler_free(chain)
        ctx.claim()
    return Generation(text=text, token_ids=out_ids, n_prompt_tokens=int(ids.size), stop_reason=reason,
                      stop_sequence=matched, seed=seed, temperature=float(temperature), top_p=float(top_p),
                      seconds=time.perf_counter() - t0)


def _sample(ctx: LlamaContext, vocab: Vocab, chain: Any, n_past: int, max_tokens: int,
            stops: list[str]) -> tuple[list[int], str, str, str | None]:
    """The sampling loop after the prompt's prefill: (token ids, text, stop reason, matched stop sequence)."""
    lib = ctx.lib
    out_ids: list[int] = []
    out_bytes = bytearray()
    max_stop = max((len(s) for s in stops), default=0)
    while len(out_ids) < max_tokens:
        t = int(lib.llama_sampler_sample(chain, ctx.ptr, -1))
        if vocab.is_eog(t):
            return out_ids, out_bytes.decode("utf-8", "replace"), "eos", None
        out_ids.append(t)
        out_bytes += vocab.token_to_piece(t, special=False)
        if stops:
            text = out_bytes.decode("utf-8", "replace")
            lo = max(0, len(text) - max_stop - 16)
            hits = [(p, s) for p, s in ((text.find(s, lo), s) for s in stops) if p >= 0]
            if hits:
                p, matched = min(hits)
                return out_ids, text[:p], "stop", matched
        if len(out_ids) >= max_tokens or n_past >= ctx.n_ctx:
            break
        ctx.tok[0] = t
        ctx.pos[0] = n_past
        ctx.flags[0] = 1
        ctx.decode(1)
        n_past += 1
    return out_ids, out_bytes.decode("utf-8", "replace"), "length", None


def make_sampler(lib: Any, temperature: float, top_p: float, seed: int) -> Any:
    """llama.cpp's sampler chain: greedy at temperature 0, else top-p (if < 1), temperature and a seeded draw."""
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


def chat_prompt(handle: ModelHandle, user_text: str, system: str | None = None) -> str | None:
    """:meth:`Model.chat_prompt`: one user turn rendered with the GGUF chat template, or None."""
    handle.check()
    lib = handle.lib
    tmpl = lib.llama_model_chat_template(handle.model, None)
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
    return str(buf.raw[:n].decode("utf-8", "replace"))
