"""Peak memory of a loaded model, estimated from its GGUF header before llama.cpp opens it.

What a model adds to the resident set while tokprobe evaluates it (llama.cpp's CPU backend, the
buffers it reports at load time; measured against peak RSS by ``benchmarks/bench_memory.py``):

- ``weights``: the tensor data, memory-mapped and read on every decode (all of it ends up resident);
- ``repack``: the copy the CPU backend makes of the 2-D weight matrices of the types it re-lays out
  for its SIMD kernels (Q4_0, Q4_K, IQ4_NL; never the token embedding);
- ``kv``: the KV cache, n_ctx cells x layers x (K + V width of the KV heads) in float16;
- ``outputs``: the logits buffer plus the part of the compute buffer the logits reach, each
  ``out_rows x n_vocab`` float32 (the evaluator asks for at most ``OUT_ROWS`` rows per decode);
- ``activations``: one batch of hidden states and attention scores in the compute buffer;
- ``vocab``: llama.cpp's and tokprobe's tokenizer tables, about 300 bytes per vocabulary entry.

The process itself (Python, numpy, pandas, the extension) is counted once by the caller.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from .context import OUT_ROWS
from .gguf_file import GGUFHeader, read_header

REPACKED_TYPES = {"Q4_0", "Q4_K", "IQ4_NL"}
VOCAB_BYTES_PER_TOKEN = 300
F16_BYTES = 2
F32_BYTES = 4
PROCESS_BYTES = 160 * 2**20  # Python + numpy + pandas + pyarrow + llama.cpp, measured: about 110-160 MiB


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a model adds to the peak resident set, by part (see the module)."""

    model: str
    weights: int
    repack: int
    kv: int
    outputs: int
    activations: int
    vocab: int

    @property
    def total(self) -> int:
        return self.weights + self.repack + self.kv + self.outputs + self.activations + self.vocab

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total": self.total}


def _int(h: GGUFHeader, key: str, default: int = 0) -> int:
    v = h.arch_value(key, default)
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _kv_bytes(h: GGUFHeader, n_ctx: int) -> int:
    n_layer = _int(h, "block_count")
    n_head = max(_int(h, "attention.head_count", 1), 1)
    n_embd = _int(h, "embedding_length")
    head_kv = _int(h, "attention.head_count_kv", n_head) or n_head
    k_len = _int(h, "attention.key_length", n_embd // n_head)
    v_len = _int(h, "attention.value_length", n_embd // n_head)
    return n_ctx * n_layer * head_kv * (k_len + v_len) * F16_BYTES


def _repack_bytes(h: GGUFHeader) -> int:
    return sum(t.n_bytes for t in h.tensors
               if t.type_name in REPACKED_TYPES and len(t.shape) == 2 and t.name != "token_embd.weight")


def estimate_model(h: GGUFHeader, *, n_ctx: int, n_batch: int, out_rows: int = OUT_ROWS) -> MemoryEstimate:
    """The estimate for the model of header ``h`` at the given context and batch sizes."""
    n_vocab = h.n_vocab
    rows = min(out_rows, n_batch)
    n_embd = _int(h, "embedding_length")
    n_ff = _int(h, "feed_forward_length", 4 * n_embd)
    n_head = max(_int(h, "attention.head_count", 1), 1)
    activations = n_batch * (6 * n_embd + 3 * n_ff + n_head * n_ctx) * F32_BYTES
    return MemoryEstimate(
        model=h.path.name, weights=h.tensor_bytes, repack=_repack_bytes(h), kv=_kv_bytes(h, n_ctx),
        outputs=2 * rows * n_vocab * F32_BYTES, activations=activations, vocab=n_vocab * VOCAB_BYTES_PER_TOKEN)


def estimate_file(path: str | os.PathLike[str], *, n_ctx: int, n_batch: int) -> MemoryEstimate:
    """:func:`estimate_model` of the GGUF file at ``path`` (its header is validated first)."""
    return estimate_model(read_header(path), n_ctx=n_ctx, n_batch=n_batch)


def available_memory() -> int:
    """MemAvailable of /proc/meminfo in bytes (the physical memory when it cannot be read)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
