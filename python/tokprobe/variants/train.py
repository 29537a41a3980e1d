"""Training data (real source code, tokenized with the model's own llama.cpp tokenizer) and the two
CPU training loops: a full fine-tune (next-token cross-entropy) and logit distillation into a student
made of a subset of the teacher's layers (KL divergence on temperature-softened logits, times T^2).

Everything is seeded: the document order, the batches and torch's initial state.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..corpus import load_corpus, read_source, stdlib_dir
from ..errors import EmptyInputError, InputError
from ..models import load

Progress = Callable[[int, int], None]

DATA_SOURCES = ("smoke", "stdlib")
MAX_DOC_BYTES = 48_000  # long files are cut (whole lines) so that the stream mixes many files


# -- data -----------------------------------------------------------------------------------------
def iter_documents(sources: tuple[str, ...], seed: int) -> Iterator[tuple[str, str]]:
    """(relative name, text) of real code: the shipped smoke corpus (every language) first, then the
    CPython standard library's ``.py`` files in a seeded order (tests and test data left out)."""
    for s in sources:
        if s not in DATA_SOURCES:
            raise InputError(f"unknown training data source {s!r}; known: {', '.join(DATA_SOURCES)}")
    if "smoke" in sources:
        c = load_corpus()
        for f in c.files:
            yield f"smoke/{c.relpath(f)}", f.text
    if "stdlib" in sources:
        root = stdlib_dir()
        skip = {"test", "tests", "idle_test", "site-packages", "__pycache__"}
        files = sorted(p for p in root.rglob("*.py") if not skip & set(p.relative_to(root).parts))
        order = np.random.default_rng(seed).permutation(len(files))
        for i in order:
            text, reason, _ = read_source(files[int(i)], max_bytes=4 * 1024 * 1024)
            if text is None:
                continue
            yield f"stdlib/{files[int(i)].relative_to(root).as_posix()}", text


def _cut(text: str, limit: int) -> str:
    if len(text.encode("utf-8")) <= limit:
        return text
    out, used = [], 0
    for line in text.splitlines(keepends=True):
        n = len(line.encode("utf-8"))
        if used + n > limit:
            break
        out.append(line)
        used += n
    return "".join(out)


def build_token_stream(source: Path, n_tokens: int, *, sources: tuple[str, ...] = DATA_SOURCES, seed: int = 0,
                       progress: Progress | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """At least ``n_tokens`` tokens (when the sources have them) of code, documents separated by the
    model's EOS token, tokenized by ``source``'s own tokenizer. Returns (int32 tokens, provenance)."""
    vocab = load(source, vocab_only=True)
    eos = vocab.header.kv.get("tokenizer.ggml.eos_token_id")
    parts: list[np.ndarray] = []
    have = 0
    docs: list[str] = []
    for name, text in iter_documents(sources, seed):
        ids = np.asarray(vocab.tokenize(_cut(text, MAX_DOC_BYTES), add_bos=False), dtype=np.int32)
        if ids.size == 0:
            continue
        if eos is not None:
            ids = np.append(ids, np.int32(eos))
        parts.append(ids)
        docs.append(name)
        have += int(ids.size)
        if progress is not None:
            progress(min(have, n_tokens), n_tokens)
        if have >= n_tokens:
            break
    vocab.close()
    if not parts:
        raise EmptyInputError("no training text found")
    tokens = np.concatenate(parts)
    langs: dict[str, int] = {}
    for d in docs:
        key = "python (stdlib)" if d.startswith("stdlib/") else "smoke corpus"
        langs[key] = langs.get(key, 0) + 1
    return tokens, {"n_tokens": int(tokens.size), "n_documents": len(docs), "documents_by_source": langs,
                    "separator_token": None if eos is None else int(eos), "sources": list(sources),
                    "max_doc_bytes": MAX_DOC_BYTES, "documents": docs}


@dataclass
class Batches:
    """Non-overlapping sequences of ``seq_len`` tokens; the last ``n_eval`` sequences are held out.
    ``batch(step)`` is a seeded draw (epochs reshuffled) over the training sequences."""

    tokens: np.ndarray
    seq_len: int
    batch_size: int
    seed: int
    n_eval: int = 0

    def __post_init__(self) -> None:
        n = self.tokens.size // self.seq_len
        if n < self.n_eval + 1:
            raise EmptyInputError(f"{self.tokens.size} tokens make fewer than {self.n_eval + 1} sequences of "
                                  f"{self.seq_len}")
        self.seqs = self.tokens[: n * self.seq_len].reshape(n, self.seq_len)
        self.train = self.seqs[: n - self.n_eval]
        self.eval = self.seqs[n - self.n_eval:]

    def batch(self, step: int) -> np.ndarray:
        n = len(self.train)
        idx = []
        for k in range(step * self.batch_size, (step + 1) * self.batch_size):
            epoch, j = divmod(k, n)
            perm = np.random.default_rng([self.seed, epoch]).permutation(n)
            idx.append(perm[j])
        out: np.ndarray = self.train[np.asarray(idx)]
        return out


# -- training -------------------------------------------------------------------------------------
def lr_at(step: int, total: int, peak: float, warmup: int, floor: float = 0.1) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` steps, then cosine decay to ``floor * peak``."""
    if warmup and step < warmup:
        return peak * (step + 1) / warmup
    span = max(1, total - warmup)
    t = min(1.0, (step - warmup) / span)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


LAYER_SELECTIONS = ("ends", "even")


def select_layers(n_teacher: int, n_student: int, strategy: str = "even") -> list[int]:
    """Which teacher layers initialise a student of ``n_student`` layers.

    ``even``: evenly spaced, always keeping the first and the last (6 of 30: 0,6,12,17,23,29).
    ``ends``: the first n//2 and the last n - n//2 layers, dropping one contiguous middle block
    (6 of 30: 0,1,2,27,28,29); measured on SmolLM2-135M it starts closer to the teacher.
    """
    if not 1 <= n_student <= n_teacher:
        raise InputError(f"a student needs 1..{n_teacher} layers, got {n_student}")
    if strategy not in LAYER_SELECTIONS:
        raise InputError(f"unknown layer selection {strategy!r}; known: {', '.join(LAYER_SELECTIONS)}")
    if n_student == 1:
        return [0]
    if strategy == "ends":
        head = n_student // 2
        return list(range(head)) + list(range(n_teacher - (n_student - head), n_teacher))
    return [int(round(i * (n_teacher - 1) / (n_student - 1))) for i in range(n_student)]


def load_hf(hf_dir: Path) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32)


def make_student(teacher: Any, layers: list[int]) -> Any:
    """A copy of ``teacher`` keeping only ``layers`` (embeddings, final norm and head unchanged)."""
    from transformers import AutoModelForCausalLM

    cfg = copy.deepcopy(teacher.config)
    cfg.num_hidden_layers = len(layers)
    if getattr(cfg, "layer_types", None):
        cfg.layer_types = [cfg.layer_types[i] for i in layers]
    student = AutoModelForCausalLM.from_config(cfg, dtype=next(teacher.parameters()).dtype)
    sd = teacher.state_dict()
    new: dict[str, Any] = {}
    for k, v in sd.items():
        if ".layers." in k:
            head, rest = k.split(".layers.", 1)
            i, tail = rest.split(".", 1)
            if int(i) in layers:
                new[f"{head}.layers.{layers.index(int(i))}.{tail}"] = v.clone()
        else:
            new[k] = v.clone()
    student.load_state_dict(new, strict=True)
    if getattr(cfg, "tie_word_embeddings", False):
        student.tie_weights()
    return student


@dataclass
class TrainLog:
    steps: int
    seconds: float
    first_loss: float
    last_loss: float  # mean of the last 10 steps
    eval_before: float | None
    eval_after: float | None
    losses: list[float]
    step_seconds: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "seconds": round(self.seconds, 2),
                "seconds_per_step": round(self.seconds / self.steps, 3) if self.steps else None,
                "first_loss": self.first_loss, "last_loss": self.last_loss, "eval_before": self.eval_before,
                "eval_after": self.eval_after,
                "median_step_seconds": round(float(np.median(self.step_seconds)), 3) if self.step_seconds else None,
                "losses": [round(x, 5) for x in self.losses],
                "step_seconds": [round(x, 3) for x in self.step_seconds]}


def _kl_loss(torch: Any, s_logits: Any, t_logits: Any, temperature: float) -> Any:
    F = torch.nn.functional
    t = temperature
    s = F.log_softmax(s_logits.float() / t, dim=-1)
    p = F.log_softmax(t_logits.float() / t, dim=-1)
    # KL(teacher || student), mean over positions, times T^2 (Hinton et al.)
    return (p.exp() * (p - s)).sum(-1).mean() * (t * t)


def _ce_loss(torch: Any, logits: Any, ids: Any) -> Any:
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)).float(),
                                             ids[:, 1:].reshape(-1))


def train(model: Any, data: Batches, *, steps: int, lr: float, warmup: int, seed: int, weight_decay: float = 0.0,
          grad_clip: float = 1.0, teacher: Any = None, temperature: float = 2.0,
          progress: Progress | None = None) -> TrainLog:
    """AdamW on CPU. Without ``teacher``: next-token cross-entropy. With: KL(teacher || student) on
    logits softened by ``temperature`` (times T^2). Eval loss (same objective) on held-out sequences."""
    import torch

    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=weight_decay)

    def objective(ids: Any) -> Any:
        out = model(input_ids=ids).logits
        if teacher is None:
            return _ce_loss(torch, out, ids)
        with torch.no_grad():
            t_out = teacher(input_ids=ids).logits
        return _kl_loss(torch, out, t_out, temperature)

    def evaluate() -> float | None:
        if len(data.eval) == 0:
            return None
        model.eval()
        vals = []
        with torch.no_grad():
            for i in range(0, len(data.eval), data.batch_size):
                ids = torch.from_numpy(data.eval[i:i + data.batch_size].astype(np.int64))
                vals.append(float(objective(ids)))
        model.train()
        return float(np.mean(vals))

    if teacher is not None:
        teacher.eval()
    before = evaluate()
    model.train()
    losses: list[float] = []
    times: list[float] = []
    t0 = time.perf_counter()
    for step in range(steps):
        ts = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr, warmup)
        ids = torch.from_numpy(data.batch(step).astype(np.int64))
        loss = objective(ids)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        val = float(loss.detach())
        if not math.isfinite(val):
            raise InputError(f"training diverged at step {step} (loss {val}); lower the learning rate")
        losses.append(val)
        times.append(time.perf_counter() - ts)
        if progress is not None:
            progress(step + 1, steps)
    seconds = time.perf_counter() - t0
    after = evaluate()
    model.eval()
    return TrainLog(steps, seconds, losses[0] if losses else float("nan"),
                    float(np.mean(losses[-10:])) if losses else float("nan"), before, after, losses, times)
