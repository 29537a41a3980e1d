"""A comparison's settings and the keys derived from them.

Every key is :func:`tokprobe.hashing.stable_hash` of a small dict, so a run directory, a
variant's state and a reference cache are found again by any later run with the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..hashing import stable_hash
from ..models import check_scheme
from ..models.context import OUT_ROWS
from ..provenance import llama_cpp_version

MODES = ("lockstep", "cache-exact", "cache-topk")
DEFAULT_N_CTX = 512
DEFAULT_SCHEME = "file"  # every file its own sequence; 'llama' for parity with llama-perplexity
DEFAULT_TOPK = 64
DEFAULT_BATCH = 512
KEY_LENGTH = 24  # hex digits of a key used in directory names
# What a store holds per scored token; bumped when a field is added, so older stores are not reused
# (2: both models' top-5 next tokens, for the explorer).
STORED_FIELDS = 2
TOP_N = 5  # next tokens of each model kept per scored token

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Settings:
    n_ctx: int = DEFAULT_N_CTX
    scheme: str = DEFAULT_SCHEME
    stride: int | None = None
    mode: str = "lockstep"
    topk: int = DEFAULT_TOPK
    batch: int = DEFAULT_BATCH
    max_tokens: int | None = None
    tokens_per_language: int | None = None  # balance the corpus first (compare.balance)
    base_file: str | None = None  # sha256 of a llama.cpp --kl-divergence-base file read as the reference
    language: str | None = None
    threads: int | None = None
    seed: int = 0

    @property
    def mode_topk(self) -> int | None:
        """K when the mode stores the reference's top-K, else None (as recorded in keys)."""
        return self.topk if self.mode == "cache-topk" else None

    @property
    def n_batch(self) -> int:
        return min(self.batch, self.n_ctx)

    def eval_key(self) -> dict[str, Any]:
        """What determines the decoded logits (besides the model and the tokens)."""
        return {
            "n_ctx": self.n_ctx,
            "scheme": self.scheme,
            "stride": self.stride,
            "batch": self.batch,
            "llama_cpp_python": llama_cpp_version(),
            # how the evaluator asks llama.cpp for rows: scored rows only, OUT_ROWS per decode (row-count
            # dependent kernels: another layout may move the logits in the last bits)
            "outputs": f"scored-{OUT_ROWS}",
            **({"base_file": self.base_file} if self.base_file else {}),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_ctx": self.n_ctx,
            "scheme": self.scheme,
            "stride": self.stride,
            "mode": self.mode,
            "topk": self.mode_topk,
            "batch": self.batch,
            "max_tokens": self.max_tokens,
            "tokens_per_language": self.tokens_per_language,
            "base_file": self.base_file,
            "language": self.language,
            "threads": self.threads,
            "seed": self.seed,
        }


def make_settings(*, n_ctx: int, scheme: str, stride: int | None, mode: str, topk: int, batch: int,
                  max_tokens: int | None, language: str | None, threads: int | None, seed: int,
                  tokens_per_language: int | None = None) -> Settings:
    """Validated :class:`Settings` (raises :class:`InputError` before any model is opened)."""
    if mode not in (*MODES, "auto"):  # auto: chosen by compare.memory_plan before any model loads
        raise InputError(f"unknown mode {mode!r}; choose one of auto, {', '.join(MODES)}")
    stride = check_scheme(scheme, n_ctx, stride)
    if mode == "cache-topk" and not 10 <= int(topk):
        raise InputError(f"--topk must be at least 10 (top-10 agreement needs it), got {topk}")
    if int(batch) < 1:
        raise InputError(f"batch must be positive, got {batch}")
    if max_tokens is not None and int(max_tokens) < 2:
        raise InputError(f"max_tokens must be at least 2, got {max_tokens}")
    if tokens_per_language is not None and int(tokens_per_language) < 1:
        raise InputError(f"tokens per language must be at least 1, got {tokens_per_language}")
    return Settings(
        n_ctx=int(n_ctx), scheme=scheme, stride=stride, mode=mode, topk=int(topk), batch=int(min(batch, n_ctx)),
        max_tokens=None if max_tokens is None else int(max_tokens), language=language, threads=threads,
        seed=int(seed), tokens_per_language=None if tokens_per_language is None else int(tokens_per_language),
    )


# -- keys ---------------------------------------------------------------------------------------------
def reference_key(model_sha256: str, tokens_digest: str, settings: Settings) -> str:
    """The reference's decoded logits: its weights, the token stream and the evaluation settings."""
    return stable_hash({"model": model_sha256, "tokens": tokens_digest, **settings.eval_key()})


def run_key(ref_key: str, variant_sha256s: list[str], settings: Settings) -> str:
    """The whole comparison (names its default run directory)."""
    return stable_hash({"ref": ref_key, "variants": variant_sha256s, "mode": settings.mode,
                        "topk": settings.mode_topk})


def variant_key(ref_key: str, variant_sha256: str, settings: Settings) -> str:
    """One variant's per-token comparison state."""
    return stable_hash({"ref": ref_key, "variant": variant_sha256, "mode": settings.mode,
                        "topk": settings.mode_topk, "fields": STORED_FIELDS})


def reference_cache_key(ref_key: str, kind: str, topk: int) -> str:
    """A reference cache of ``kind`` ``'exact'`` or ``'topk'``."""
    return stable_hash({"ref": ref_key, "kind": kind, "topk": topk if kind == "topk" else None,
                        "fields": STORED_FIELDS})


def reference_nll_key(ref_key: str) -> str:
    """The reference alone (its NLL), when no variant shares its vocabulary."""
    return stable_hash({"ref": ref_key, "kind": "nll"})


def independent_nll_key(model_sha256: str, tokens_digest: str, settings: Settings) -> str:
    """A variant with another vocabulary, alone on its own token stream."""
    return stable_hash({"model": model_sha256, "tokens": tokens_digest, **settings.eval_key(), "kind": "nll"})
