"""What a codegen run generates and how, and the key that names its run directory.

The settings key hashes everything that changes a sample's outcome (model sha256, prompt mode,
stop sequences, token budget, n, temperature, top-p, seed, sandbox limits, the problem data),
but not the problem subset: a ``--limit 20`` run is reused by a later full run.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..hashing import stable_hash
from .limits import Limits
from .problems import STOP_SEQUENCES

PROMPT_MODES = ("auto", "raw", "chat")
DEFAULT_INSTRUCTION = (
    "Complete the following Python function. Keep the signature and docstring; "
    "write only the implementation.\n\n```python\n{prompt}```"
)
DEFAULT_RUN_ROOT = Path("tokprobe-runs")


@dataclass(frozen=True)
class CodegenSettings:
    """What is generated and how. ``n`` samples per problem; ``temperature == 0`` is greedy."""

    prompt_mode: str = "auto"
    max_tokens: int = 512
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = STOP_SEQUENCES
    instruction: str = DEFAULT_INSTRUCTION
    system: str | None = None

    def __post_init__(self) -> None:
        if self.prompt_mode not in PROMPT_MODES:
            raise InputError(f"prompt mode must be one of {', '.join(PROMPT_MODES)}, got {self.prompt_mode!r}")
        if self.max_tokens < 1:
            raise InputError(f"max tokens must be >= 1, got {self.max_tokens}")
        if self.n < 1:
            raise InputError(f"n (samples per problem) must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise InputError(f"temperature must be >= 0, got {self.temperature}")
        if self.n > 1 and self.temperature == 0:
            raise InputError("n > 1 samples need --temperature > 0 (greedy samples are identical)")
        if not 0 < self.top_p <= 1:
            raise InputError(f"top-p must be in (0, 1], got {self.top_p}")
        if "{prompt}" not in self.instruction:
            raise InputError("the chat instruction must contain '{prompt}'")
        object.__setattr__(self, "stop", tuple(self.stop))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


def sample_seed(seed: int, task_id: str, sample: int) -> int:
    """Per-sample seed: independent of order, subset and resumption."""
    digest = hashlib.sha256(f"{seed}:{task_id}:{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def settings_key(
    model_sha256: str,
    mode: str,
    settings: CodegenSettings,
    limits: Limits,
    data_digest: str,
    model_config: dict[str, Any] | None = None,
) -> str:
    """The run key: a hash of everything that changes a sample's outcome."""
    payload = {
        "model_sha256": model_sha256,
        "model_config": model_config or {},
        "prompt_mode": mode,
        "settings": settings.to_dict(),
        "limits": limits.to_dict(),
        "data": data_digest,
        "format": 1,
    }
    return stable_hash(payload)


def run_dir_for(run_root: str | os.PathLike[str], model_sha256: str, key: str) -> Path:
    """``<run_root>/codegen/<model sha256[:12]>/<key[:12]>``."""
    return Path(run_root) / "codegen" / model_sha256[:12] / key[:12]
