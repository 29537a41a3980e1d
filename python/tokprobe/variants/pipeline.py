"""The variants pipeline: cached, resumable steps from one source GGUF to named GGUF variants.

Steps (each writes its outputs, then ``steps/<step>.json``, the done-marker with the step's recipe,
seed, timings and output hashes; a step whose marker matches the current recipe is skipped):

``base``            source GGUF -> float32 HF model (``hf/base``), dequantized by transformers
``data``            code token stream (``data/tokens.npy``): shipped smoke corpus + CPython stdlib,
                    tokenized by the source's own tokenizer
``reference``       the source as F16 GGUF (for a named model: the ladder file ``<model>-F16``): the
                    reference the trained variants compare against, with no quantization in between
``finetune``        full fine-tune on code -> ``hf/code``
``distill-L<n>``    student with n of the teacher's layers, trained on the teacher's logits -> ``hf/distill-L<n>``
``gguf-<variant>``  HF -> F16 GGUF with llama.cpp's convert_hf_to_gguf.py, tokenizer checked against the
                    source, quantized to each ``quant_types`` with llama.cpp, names registered

Outputs: ``<out>/<prefix>/gguf/<prefix>-code.gguf`` (F16), ``<prefix>-code-Q8_0.gguf``, ... and
``<out>/<prefix>/manifest.json`` (recipe, seed, versions, data provenance, per-step timings and losses).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import io, provenance
from .._version import __version__
from ..cache import cache_root, file_sha256
from ..errors import InputError
from ..hashing import stable_hash
from ..models import MODELS, canonical_name, ladder, quantize, register_name, resolve, validate_gguf
from . import convert
from .train import (
    DATA_SOURCES,
    LAYER_SELECTIONS,
    Batches,
    build_token_stream,
    load_hf,
    make_student,
    select_layers,
    train,
)

Progress = Callable[[int, int], None]
StepLog = Callable[[str, str], None]  # (step name, "start" | "skip" | "done")

RECIPE_VERSION = 1


@dataclass(frozen=True)
class Recipe:
    """Everything that determines the variants (recorded in every done-marker and the manifest)."""

    source: str = "smollm2-135m"
    prefix: str = ""                      # names are <prefix>-code, <prefix>-distill-L6; "" = the source's name
    finetune: bool = True
    finetune_steps: int = 200
    finetune_lr: float = 5e-5
    student_layers: tuple[int, ...] = (6, 15)
    layer_selection: str = "ends"         # which teacher layers a student starts from: ends | even
    distill_steps: int = 200
    distill_lr: float = 2e-4
    temperature: float = 2.0
    batch_size: int = 4
    seq_len: int = 256
    warmup_steps: int = 10
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    eval_sequences: int = 8               # held-out sequences for the before/after loss
    data_sources: tuple[str, ...] = DATA_SOURCES
    quant_types: tuple[str, ...] = ("Q8_0", "Q4_1")
    seed: int = 0

    def __post_init__(self) -> None:
        for k in ("finetune_steps", "distill_steps", "warmup_steps", "eval_sequences"):
            if getattr(self, k) < 0:
                raise InputError(f"{k} must be >= 0, got {getattr(self, k)}")
        if self.batch_size < 1 or self.seq_len < 8:
            raise InputError(f"batch_size must be >= 1 and seq_len >= 8 (got {self.batch_size}, {self.seq_len})")
        if any(n < 1 for n in self.student_layers):
            raise InputError(f"student layer counts must be >= 1, got {list(self.student_layers)}")
        if len(set(self.student_layers)) != len(self.student_layers):
            raise InputError(f"student layer counts repeat: {list(self.student_layers)}")
        if self.temperature <= 0 or self.finetune_lr <= 0 or self.distill_lr <= 0:
            raise InputError("temperature and learning rates must be > 0")
        if self.layer_selection not in LAYER_SELECTIONS:
            raise InputError(f"unknown layer selection {self.layer_selection!r}; known: {', '.join(LAYER_SELECTIONS)}")
        for s in self.data_sources:
            if s not in DATA_SOURCES:
                raise InputError(f"unknown data source {s!r}; known: {', '.join(DATA_SOURCES)}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @property
    def variant_names(self) -> list[str]:
        """Variant suffixes in build order: 'code', 'distill-L15', 'distill-L6' (largest student first)."""
        out = ["code"] if self.finetune and self.finetune_steps > 0 else []
        out += [f"distill-L{n}" for n in sorted(self.student_layers, reverse=True)]
        return out


@dataclass
class Variant:
    name: str          # registered name, e.g. smollm2-135m-code
    kind: str          # finetune | distill | reference
    path: Path         # F16 GGUF
    quantized: dict[str, Path] = field(default_factory=dict)
    n_layers: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "path": str(self.path), "n_layers": self.n_layers,
                "quantized": {k: str(v) for k, v in self.quantized.items()}}


@dataclass
class BuildResult:
    out_dir: Path
    manifest: Path
    variants: list[Variant]
    steps: list[dict[str, Any]]   # name, status (built | reused), seconds


def variants_dir() -> Path:
    """``<tokprobe cache>/variants``."""
    return cache_root() / "variants"


def source_prefix(source: str | os.PathLike[str]) -> str:
    """The name prefix of a source's variants: a built-in model's name, else the file's stem."""
    if isinstance(source, str) and canonical_name(source) in MODELS:
        return canonical_name(source)
    return Path(source).stem


def _digest(obj: Any) -> str:
    return stable_hash(obj, 16)


def plan_units(recipe: Recipe) -> int:
    """Progress units of a full build: 1 per non-training step, 1 per training step."""
    n_variants = len(recipe.variant_names)
    train_units = (recipe.finetune_steps if "code" in recipe.variant_names else 0)
    train_units += recipe.distill_steps * len(recipe.student_layers)
    return 3 + train_units + n_variants


class _Runner:
    """Runs the steps of one build: skips a step whose done-marker matches, counts progress units."""

    def __init__(self, root: Path, recipe: Recipe, progress: Progress | None, log: StepLog | None,
                 force: bool) -> None:
        self.root = root
        self.recipe = recipe
        self.progress = progress
        self.log = log
        self.force = force
        self.done_units = 0
        self.total_units = plan_units(recipe)
        self.steps: list[dict[str, Any]] = []

    def tick(self, n: int = 1) -> None:
        self.done_units += n
        if self.progress is not None:
            self.progress(min(self.done_units, self.total_units), self.total_units)

    def sub(self) -> Progress:
        start = self.done_units

        def update(done: int, _total: int) -> None:
            if self.progress is not None:
                self.progress(min(start + done, self.total_units), self.total_units)
        return update

    def marker(self, step: str) -> Path:
        return self.root / "steps" / f"{step}.json"

    def cached(self, step: str, key: dict[str, Any]) -> dict[str, Any] | None:
        p = self.marker(step)
        if self.force or not p.is_file():
            return None
        try:
            m = io.read_json(p)
        except (OSError, ValueError):
            return None
        if not isinstance(m, dict) or m.get("key") != _digest(key):
            return None
        for out in m.get("outputs", []):
            if not Path(out["path"]).exists():
                return None
        return m

    def run(self, step: str, key: dict[str, Any], units: int, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``fn`` unless a done-marker with the same key exists; ``fn`` returns {'outputs': [...], ...}."""
        hit = self.cached(step, key)
        if hit is not None:
            if self.log:
                self.log(step, "skip")
            self.tick(units)
            self.steps.append({"step": step, "status": "reused", "seconds": hit.get("seconds")})
            return hit
        if self.log:
            self.log(step, "start")
        start_units = self.done_units
        t0 = time.perf_counter()
        info = fn()
        seconds = round(time.perf_counter() - t0, 2)
        for out in info.get("outputs", []):
            p = Path(out["path"])
            if p.is_file() and "sha256" not in out:
                out["sha256"] = file_sha256(p)
        marker = {"step": step, "key": _digest(key), "recipe": key, "seed": self.recipe.seed,
                  "seconds": seconds, "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **info}
        io.write_json(self.marker(step), marker)
        self.done_units = start_units
        self.tick(units)
        if self.log:
            self.log(step, "done")
        self.steps.append({"step": step, "status": "built", "seconds": seconds})
        return marker


def _hf_outputs(d: Path) -> list[dict[str, Any]]:
    return [{"path": str(d / "model.safetensors")}] if (d / "model.safetensors").is_file() else [{"path": str(d)}]


def check_source(recipe: Recipe) -> tuple[Path, int]:
    """(source GGUF path, its layer count); raises when the source is missing or a student too big."""
    src_path = resolve(recipe.source).resolve()
    header = validate_gguf(src_path)
    n_teacher = int(header.arch_value("block_count", 0) or 0)
    for n in recipe.student_layers:
        if n_teacher and n > n_teacher:
            raise InputError(f"a student of {n} layers is larger than the {n_teacher}-layer source")
    return src_path, n_teacher


@dataclass
class _Build:
    """What every step of one build reads: the recipe (with its prefix), where, the source, the runner."""

    recipe: Recipe
    root: Path
    src_path: Path
    src_sha: str
    n_teacher: int
    threads: int
    runner: _Runner
    torch: Any
    transformers: Any

    @property
    def hf_base(self) -> Path:
        return self.root / "hf" / "base"


def build_variants(recipe: Recipe | None = None, *, out_dir: str | os.PathLike[str] | None = None,
                   register: bool = True, threads: int | None = None, sdist: str | os.PathLike[str] | None = None,
                   force: bool = False, progress: Progress | None = None, log: StepLog | None = None) -> BuildResult:
    """Make the fine-tuned and distilled variants of ``recipe.source`` (default smollm2-135m) as GGUF.

    ``out_dir``: default ``<cache>/variants``; files go under ``<out_dir>/<prefix>/``. ``register``:
    record names (``<prefix>-code``, ``<prefix>-distill-L6``, ``<prefix>-code-Q8_0``, ...) so that
    ``tokprobe.models.resolve`` finds them. ``threads``: torch threads (default: available cores).
    ``progress(done, total)`` counts training steps plus one unit per other step. Re-running skips
    every step whose done-marker matches; ``force`` redoes them all.
    """
    recipe = recipe or Recipe()
    torch, transformers = convert.require_train()
    src_path, n_teacher = check_source(recipe)
    prefix = recipe.prefix or source_prefix(recipe.source)
    recipe = replace(recipe, prefix=prefix)
    root = Path(out_dir).expanduser() if out_dir is not None else variants_dir()
    root = root / prefix
    root.mkdir(parents=True, exist_ok=True)
    threads = int(threads) if threads else provenance.available_cores()
    torch.set_num_threads(threads)
    src_sha = file_sha256(src_path)
    b = _Build(recipe, root, src_path, src_sha, n_teacher, threads, _Runner(root, recipe, progress, log, force),
               torch, transformers)
    base = _base_step(b)
    data, tokens = _data_step(b)
    ref = _reference_step(b, register)
    train_keys = _training_steps(b, base, data, tokens)
    variants = _gguf_steps(b, train_keys, sdist, register)
    manifest = _manifest(b, data, ref, variants)
    man_path = io.write_json(root / "manifest.json", manifest)
    return BuildResult(root, Path(man_path), variants, b.runner.steps)


def _base_step(b: _Build) -> dict[str, Any]:
    """``base``: the source GGUF dequantized into a float32 HF model."""
    base_key = {"v": RECIPE_VERSION, "source_sha256": b.src_sha}

    def do_base() -> dict[str, Any]:
        cfg = convert.gguf_to_hf(b.src_path, b.hf_base)
        return {"outputs": _hf_outputs(b.hf_base), "config": {k: cfg.get(k) for k in (
            "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "intermediate_size", "vocab_size", "tie_word_embeddings")}}

    return b.runner.run("base", base_key, 1, do_base)


def _data_step(b: _Build) -> tuple[dict[str, Any], np.ndarray]:
    """``data``: the code token stream (marker, tokens)."""
    R, root = b.recipe, b.root
    tokens_path = root / "data" / "tokens.npy"
    n_train_seqs = max(R.finetune_steps if "code" in R.variant_names else 0,
                       R.distill_steps if R.student_layers else 0) * R.batch_size
    need = (n_train_seqs + R.eval_sequences + 1) * R.seq_len
    data_key = {"v": RECIPE_VERSION, "source_sha256": b.src_sha, "n_tokens": need, "sources": list(R.data_sources),
                "seed": R.seed}

    def do_data() -> dict[str, Any]:
        toks, prov = build_token_stream(b.src_path, need, sources=R.data_sources, seed=R.seed)
        with io.atomic_path(tokens_path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, toks)
        docs = prov.pop("documents")
        io.write_text(root / "data" / "documents.txt", "\n".join(docs) + "\n")
        return {"outputs": [{"path": str(tokens_path)}, {"path": str(root / "data" / "documents.txt")}], "data": prov}

    data = b.runner.run("data", data_key, 1, do_data)
    return data, np.load(tokens_path)


def _reference_step(b: _Build, register: bool) -> dict[str, Any]:
    """``reference``: the source as F16 (a named model's ladder file, else a GGUF next to the variants)."""
    R, prefix = b.recipe, b.recipe.prefix
    named = isinstance(R.source, str) and canonical_name(R.source) in MODELS

    def do_reference() -> dict[str, Any]:
        if named:
            p = ladder(canonical_name(R.source), ["F16"], threads=b.threads)["F16"]
        else:
            p = quantize(b.src_path, "F16", b.root / "gguf" / f"{prefix}-F16.gguf", threads=b.threads)
        return {"outputs": [{"path": str(p)}], "name": f"{prefix}-F16"}

    ref = b.runner.run("reference", {"v": RECIPE_VERSION, "source_sha256": b.src_sha, "named": named}, 1,
                       do_reference)
    if not named and register:
        register_name(f"{prefix}-F16", ref["outputs"][0]["path"], kind="variant",
                      description=f"{prefix} as F16 (reference of its trained variants)")
    return ref


def _training_steps(b: _Build, base: dict[str, Any], data: dict[str, Any],
                    tokens: np.ndarray) -> dict[str, dict[str, Any]]:
    """``finetune`` and ``distill-L<n>`` (largest student first); returns each variant's training key."""
    R, root, run = b.recipe, b.root, b.runner

    def batches() -> Batches:
        return Batches(tokens, R.seq_len, R.batch_size, R.seed, R.eval_sequences)

    common = {"v": RECIPE_VERSION, "base": base["key"], "data": data["key"], "seed": R.seed,
              "batch_size": R.batch_size, "seq_len": R.seq_len, "warmup_steps": R.warmup_steps,
              "weight_decay": R.weight_decay, "grad_clip": R.grad_clip, "eval_sequences": R.eval_sequences,
              "torch": b.torch.__version__, "transformers": b.transformers.__version__}
    train_keys: dict[str, dict[str, Any]] = {}
    if "code" in R.variant_names:
        key = {**common, "objective": "next-token cross-entropy (full fine-tune)", "steps": R.finetune_steps,
               "lr": R.finetune_lr}
        train_keys["code"] = key

        def do_finetune() -> dict[str, Any]:
            model = load_hf(b.hf_base)
            logd = train(model, batches(), steps=R.finetune_steps, lr=R.finetune_lr, warmup=R.warmup_steps,
                         seed=R.seed, weight_decay=R.weight_decay, grad_clip=R.grad_clip, progress=run.sub())
            out = root / "hf" / "code"
            convert.save_hf(model, b.hf_base, out)
            return {"outputs": _hf_outputs(out), "train": logd.to_dict(),
                    "n_params": int(sum(p.numel() for p in model.parameters()))}

        run.run("finetune", key, R.finetune_steps, do_finetune)
    teacher: list[Any] = []  # the frozen base model, loaded by the first student that trains

    for n in sorted(R.student_layers, reverse=True):
        layers = select_layers(b.n_teacher or int(base["config"]["num_hidden_layers"]), n, R.layer_selection)
        key = {**common, "objective": f"KL(teacher || student) on logits / T, times T^2; T={R.temperature}",
               "teacher": "base", "layers": layers, "layer_selection": R.layer_selection,
               "steps": R.distill_steps, "lr": R.distill_lr,
               "temperature": R.temperature}
        train_keys[f"distill-L{n}"] = key

        def do_distill(n: int = n, layers: list[int] = layers) -> dict[str, Any]:
            if not teacher:
                teacher.append(_frozen(load_hf(b.hf_base)))
            student = make_student(teacher[0], layers)
            logd = train(student, batches(), steps=R.distill_steps, lr=R.distill_lr, warmup=R.warmup_steps,
                         seed=R.seed, weight_decay=R.weight_decay, grad_clip=R.grad_clip, teacher=teacher[0],
                         temperature=R.temperature, progress=run.sub())
            out = root / "hf" / f"distill-L{n}"
            convert.save_hf(student, b.hf_base, out)
            return {"outputs": _hf_outputs(out), "train": logd.to_dict(), "layers": layers,
                    "n_params": int(sum(p.numel() for p in student.parameters()))}

        run.run(f"distill-L{n}", key, R.distill_steps, do_distill)
    teacher.clear()
    return train_keys


def _frozen(model: Any) -> Any:
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _gguf_steps(b: _Build, train_keys: dict[str, dict[str, Any]], sdist: str | os.PathLike[str] | None,
                register: bool) -> list[Variant]:
    """``gguf-<variant>``: HF -> F16 GGUF (tokenizer checked), quantized; names registered."""
    R, root, prefix = b.recipe, b.root, b.recipe.prefix
    tool: list[Path] = []  # llama.cpp's converter, extracted by the first conversion that runs
    variants: list[Variant] = []
    for v in R.variant_names:
        hf = root / "hf" / v
        name = f"{prefix}-{v}"
        f16 = root / "gguf" / f"{name}.gguf"
        qtypes = [t.upper() for t in R.quant_types]
        key = {"v": RECIPE_VERSION, "train": _digest(train_keys[v]), "quant_types": qtypes,
               "llama_cpp_python": provenance.llama_cpp_version()}

        def do_gguf(hf: Path = hf, name: str = name, f16: Path = f16, qtypes: list[str] = qtypes) -> dict[str, Any]:
            if not tool:
                tool.append(convert.converter_dir(variants_dir() / "tools", sdist))
            convert.hf_to_gguf(hf, f16, tool=tool[0], outtype="f16", model_name=name)
            convert.check_same_vocab(b.src_path, f16)
            outs = [{"path": str(f16), "type": "F16"}]
            for t in qtypes:
                q = quantize(f16, t, root / "gguf" / f"{name}-{t}.gguf", threads=b.threads)
                outs.append({"path": str(q), "type": t})
            return {"outputs": outs}

        done = b.runner.run(f"gguf-{v}", key, 1, do_gguf)
        h = validate_gguf(f16)
        var = Variant(name, "finetune" if v == "code" else "distill", f16,
                      {o["type"]: Path(o["path"]) for o in done["outputs"] if o.get("type") != "F16"},
                      int(h.arch_value("block_count", 0) or 0) or None)
        variants.append(var)
        if register:
            _register_variant(var, v, prefix, b.n_teacher)
    return variants


def _register_variant(var: Variant, suffix: str, prefix: str, n_teacher: int) -> None:
    what = ("fine-tuned on code" if suffix == "code" else
            f"distilled student, {var.n_layers} of {n_teacher} layers")
    register_name(var.name, var.path, kind="variant", description=f"{prefix} {what} (F16)")
    for t, q in var.quantized.items():
        register_name(f"{var.name}-{t}", q, kind="variant", description=f"{prefix} {what} ({t})")


def _manifest(b: _Build, data: dict[str, Any], ref: dict[str, Any], variants: list[Variant]) -> dict[str, Any]:
    R = b.recipe
    return {
        "tokprobe": __version__, "recipe_version": RECIPE_VERSION, "recipe": R.to_dict(), "seed": R.seed,
        "source": {"name": R.source if isinstance(R.source, str) else None, "path": str(b.src_path),
                   "sha256": b.src_sha, "n_layers": b.n_teacher},
        "reference": ref["outputs"][0]["path"],
        "versions": {"torch": b.torch.__version__, "transformers": b.transformers.__version__,
                     "llama_cpp_python": provenance.llama_cpp_version()},
        "hardware": provenance.hardware(), "threads": b.threads,
        "data": data.get("data"),
        "variants": [v.to_dict() for v in variants],
        "steps": {s["step"]: _step_summary(b.runner.marker(s["step"])) for s in b.runner.steps},
    }


def _step_summary(marker: Path) -> dict[str, Any]:
    m = io.read_json(marker)
    out = {k: m.get(k) for k in ("seconds", "finished_utc", "recipe")}
    if "train" in m:
        t = dict(m["train"])
        t.pop("losses", None)
        t.pop("step_seconds", None)
        out["train"] = t
    if "n_params" in m:
        out["n_params"] = m["n_params"]
    out["outputs"] = m.get("outputs", [])
    return out
