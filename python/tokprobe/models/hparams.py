"""Hyperparameters and vocabulary arrays that llama.cpp asserts on, checked before it sees the file.

llama.cpp (the pinned llama-cpp-python 0.3.36, ``src/llama-model.cpp`` ``load_hparams`` and
``src/llama-vocab.cpp`` ``load``) aborts the whole process with ``GGML_ASSERT`` on some header values
instead of failing the load: a block count outside ``1..LLAMA_MAX_LAYERS`` (512), more next-token
prediction layers than blocks, more than ``LLAMA_MAX_EXPERTS`` (1024) experts or inconsistent
expert/group counts, an unknown RoPE scaling type, and duplicate token texts. Each becomes one
:class:`~tokprobe.errors.FileFormatError` line here. A few values llama.cpp would only trip over
later or silently replace are checked too: embedding and context lengths must be positive, per-layer
arrays (head counts, feed-forward lengths) must have one entry per block, the scores and token-type
arrays one entry per token, special-token ids must name a token, and a BOS/EOS to add must exist.

Only keys that are present are checked (a missing required key is a clean llama.cpp error), and
only what llama.cpp turns into an abort or a silent replacement: a head count or embedding length that
does not fit the tensors is a clean load error whose cause the message keeps (models/_llama.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FileFormatError

if TYPE_CHECKING:
    from .gguf_file import GGUFHeader

LLAMA_MAX_LAYERS = 512  # llama-hparams.h
LLAMA_MAX_EXPERTS = 1024  # llama-hparams.h
ROPE_SCALING_TYPES = ("none", "linear", "yarn", "longrope")  # LLAMA_ROPE_SCALING_TYPES
# Keys read with get_key_or_arr(n_layer): a scalar, or an array of one entry per block.
PER_LAYER_KEYS = ("feed_forward_length", "attention.head_count", "attention.head_count_kv", "expert_used_count")
# Special-token id keys (llm_kv TOKENIZER_*_ID); an id of -1 (or 2**32 - 1 as u32) means "none".
SPECIAL_TOKEN_SUFFIXES = ("_token_id",)


def _fail(h: GGUFHeader, what: str, kind: str = "model hyperparameters") -> FileFormatError:
    return FileFormatError(f"{h.path}: invalid {kind}: {what}")


def _uint(h: GGUFHeader, key: str) -> int | None:
    """A scalar integer value of ``key``, or None when absent; an error when it is not an integer."""
    v = h.kv.get(key)
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise _fail(h, f"{key} must be an unsigned integer, got {_show(v)}")
    if int(v) < 0:
        raise _fail(h, f"{key} must not be negative, got {int(v)}")
    return int(v)


def _show(v: Any) -> str:
    if isinstance(v, (list, np.ndarray)):
        return f"an array of {len(v)}"
    return repr(v)


def _per_layer(h: GGUFHeader, key: str, n_layer: int) -> list[int] | None:
    """A per-layer value as one integer per block (a scalar repeats), or None when absent."""
    v = h.kv.get(key)
    if v is None:
        return None
    if isinstance(v, np.ndarray) and v.dtype.kind in "iu":
        if len(v) != n_layer:
            raise _fail(h, f"{key} has {len(v)} entries but the model has {n_layer} blocks")
        if v.size and int(v.min()) < 0:
            raise _fail(h, f"{key} has a negative entry")
        return [int(x) for x in v]
    one = _uint(h, key)
    assert one is not None
    return [one] * n_layer


def check_hparams(h: GGUFHeader) -> None:
    """Raise FileFormatError (one line) for a header value llama.cpp would abort on or misuse."""
    arch = h.arch
    if arch:
        _check_layers(h, arch)
    _check_vocab(h)


def _check_layers(h: GGUFHeader, arch: str) -> None:
    n_layer = _uint(h, f"{arch}.block_count")
    for suffix in ("embedding_length", "context_length"):
        v = _uint(h, f"{arch}.{suffix}")
        if v is not None and v < 1:
            raise _fail(h, f"{arch}.{suffix} must be at least 1, got {v}")
    if n_layer is None:
        return
    if not 1 <= n_layer <= LLAMA_MAX_LAYERS:
        raise _fail(h, f"{arch}.block_count must be 1 to {LLAMA_MAX_LAYERS} (llama.cpp's limit), got {n_layer}")
    for sub in ("nextn_predict_layers", "posnet.block_count", "convnext.block_count"):
        v = _uint(h, f"{arch}.{sub}")
        if v is not None and v > n_layer:
            raise _fail(h, f"{arch}.{sub} is {v}, more than the {n_layer} blocks")
    for sub in PER_LAYER_KEYS[:3]:
        _per_layer(h, f"{arch}.{sub}", n_layer)
    _check_experts(h, arch, n_layer)
    rope = h.kv.get(f"{arch}.rope.scaling.type")
    if rope is not None and rope not in ROPE_SCALING_TYPES:
        raise _fail(h, f"{arch}.rope.scaling.type is {_show(rope)}, not one of {', '.join(ROPE_SCALING_TYPES)}")


def _check_experts(h: GGUFHeader, arch: str, n_layer: int) -> None:
    """The expert counts llama.cpp's load_hparams asserts on (GGML_ASSERT, not an error)."""
    n_expert = _uint(h, f"{arch}.expert_count") or 0
    used_per_layer = _per_layer(h, f"{arch}.expert_used_count", n_layer) or [0]
    used = max(used_per_layer)
    groups = _uint(h, f"{arch}.expert_group_count") or 0
    group_used = _uint(h, f"{arch}.expert_group_used_count") or 0
    if arch in ("hunyuan-vl", "hunyuan-dense") and n_expert <= 1:
        return  # llama.cpp resets both to 0 for these
    if n_expert > LLAMA_MAX_EXPERTS:
        raise _fail(h, f"{arch}.expert_count must be at most {LLAMA_MAX_EXPERTS}, got {n_expert}")
    if used > n_expert:
        raise _fail(h, f"{arch}.expert_used_count ({used}) exceeds {arch}.expert_count ({n_expert})")
    if n_expert == 0:
        if groups:
            raise _fail(h, f"{arch}.expert_group_count is {groups} but the model has no experts")
        return
    if used == 0:
        raise _fail(h, f"{arch}.expert_count is {n_expert} but {arch}.expert_used_count is 0 or missing")
    if groups >= n_expert:
        raise _fail(h, f"{arch}.expert_group_count ({groups}) must be less than {arch}.expert_count ({n_expert})")
    if groups > 1 and (n_expert % groups or not 0 < group_used < groups):
        raise _fail(h, f"{arch}.expert_count {n_expert}, expert_group_count {groups} and "
                       f"expert_group_used_count {group_used} do not fit together")


def _check_vocab(h: GGUFHeader) -> None:
    tokens = h.kv.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, list) or not tokens:
        return
    n = len(tokens)
    for key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        arr = h.kv.get(key)
        if arr is not None and (not isinstance(arr, np.ndarray) or len(arr) != n):
            raise _fail(h, f"{key} has {_length(arr)} entries but the vocabulary has {n} tokens", "vocabulary")
    if len(set(tokens)) != n:
        raise _fail(h, f"tokenizer.ggml.tokens holds the token text {_first_duplicate(tokens)!r} more than once",
                    "vocabulary")
    for key, v in h.kv.items():
        if key.startswith("tokenizer.ggml.") and key.endswith(SPECIAL_TOKEN_SUFFIXES):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise _fail(h, f"{key} must be an integer token id, got {_show(v)}", "vocabulary")
            if int(v) in (-1, 2**32 - 1):
                continue  # "no such token"
            if not 0 <= int(v) < n:
                raise _fail(h, f"{key} is {int(v)}, outside the vocabulary of {n} tokens", "vocabulary")
    for which in ("bos", "eos"):
        # llama.cpp asserts on a BOS/EOS it must add but does not have (GGML_ASSERT in tokenize).
        if h.kv.get(f"tokenizer.ggml.add_{which}_token") is True:
            tid = h.kv.get(f"tokenizer.ggml.{which}_token_id")
            if tid is None or int(tid) in (-1, 2**32 - 1):
                raise _fail(h, f"tokenizer.ggml.add_{which}_token is set but there is no "
                               f"tokenizer.ggml.{which}_token_id", "vocabulary")


def _first_duplicate(tokens: list[str]) -> str:
    seen: set[str] = set()
    for t in tokens:
        if t in seen:
            return t
        seen.add(t)
    return ""


def _length(arr: Any) -> str:
    return str(len(arr)) if isinstance(arr, (list, np.ndarray)) else "no array of"
