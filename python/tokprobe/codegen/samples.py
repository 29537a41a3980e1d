"""Generating samples and executing them: one completion per (problem, sample index).

Generation runs in the calling thread; every generated sample is handed to the sandbox pool at
once, so execution overlaps generation. Sample ``i`` of a task is generated with a seed derived
from (seed, task id, i), so results do not depend on order, subset or resumption. Every
generation and every result is appended to its JSONL store as soon as it exists.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .._version import __version__
from ..provenance import llama_cpp_version
from .problems import Problem, truncate_at_stop
from .prompts import build_prompt
from .sandbox import Sandbox
from .settings import CodegenSettings, sample_seed
from .store import JsonlStore
from .verdict import ExecResult

Progress = Callable[[int, int], None]


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


def exec_record(res: ExecResult) -> dict[str, Any]:
    """The execution fields of a result record."""
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


class Executions:
    """Samples submitted to the sandbox; each finished one is appended to ``results``.

    Errors raised in the pool's threads are kept and re-raised by :meth:`wait` in the caller's.
    A future's result is visible before its done-callback has run, so :meth:`wait` waits for the
    callbacks (the appends to ``results``), not for the futures.
    """

    def __init__(self, sandbox: Sandbox, results: JsonlStore, done: int, total: int,
                 progress: Progress | None) -> None:
        self.sandbox = sandbox
        self.results = results
        self.total = total
        self.progress = progress
        self.done = done
        self.exec_s = 0.0
        self.futures: list[Future[ExecResult]] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Condition()
        self._handled = 0
        if progress:
            progress(done, total)

    def submit(self, gen: dict[str, Any], problem: Problem) -> None:
        fut = self.sandbox.submit(problem.program(gen["completion"]))
        self.futures.append(fut)
        fut.add_done_callback(functools.partial(self._finished, gen))

    def _finished(self, gen: dict[str, Any], fut: Future[ExecResult]) -> None:
        try:
            self._record(gen, fut)
        finally:
            with self._lock:
                self._handled += 1
                self._lock.notify_all()

    def _record(self, gen: dict[str, Any], fut: Future[ExecResult]) -> None:
        try:
            res = fut.result()
        except BaseException as exc:  # re-raised in the main thread
            self.errors.append(exc)
            return
        rec = dict(gen)
        rec.update(exec_record(res))
        try:
            self.results.append(rec)
        except BaseException as exc:  # re-raised in the main thread
            self.errors.append(exc)
            return
        with self._lock:
            self.done += 1
            self.exec_s += res.duration_s
            d = self.done
        if self.progress:
            self.progress(d, self.total)

    def wait(self) -> None:
        with self._lock:
            self._lock.wait_for(lambda: self._handled == len(self.futures))
        if self.errors:
            raise self.errors[0]

    def cancel(self) -> None:
        for fut in self.futures:
            fut.cancel()


def generate_and_execute(
    model: Any,
    problems: list[Problem],
    settings: CodegenSettings,
    mode: str,
    sandbox: Sandbox,
    key: str,
    sha: str,
    gens: JsonlStore,
    results: JsonlStore,
    progress: Progress | None,
) -> dict[str, float]:
    """Generate and execute every sample of ``problems`` not yet in ``results`` (under ``key``);
    samples generated earlier but not executed are executed from ``gens``. Returns timings."""
    done = {(r["task_id"], r["sample"]) for r in results.records if r.get("key") == key}
    cached = {(g["task_id"], g["sample"]): g for g in gens.records if g.get("key") == key}
    todo = [(p, i) for p in problems for i in range(settings.n) if (p.task_id, i) not in done]
    total = len(problems) * settings.n
    runs = Executions(sandbox, results, total - len(todo), total, progress)
    stamp = {"key": key, "model_sha256": sha, "tokprobe_version": __version__, "llama_cpp_python": llama_cpp_version()}
    gen_s = 0.0
    gen_tokens = 0
    n_generated = 0
    try:
        # Samples generated earlier but not executed: execute first (no model time needed).
        for p, i in todo:
            if (p.task_id, i) in cached:
                runs.submit(cached[(p.task_id, i)], p)
        for p, i in todo:
            if runs.errors:
                break
            if (p.task_id, i) in cached:
                continue
            gen = generate_sample(model, p, i, settings, mode)
            gen.update(stamp)
            gens.append(gen)
            gen_s += gen["gen_s"]
            gen_tokens += gen["n_tokens"]
            n_generated += 1
            runs.submit(gen, p)
        runs.wait()
    except BaseException:
        runs.cancel()
        raise
    return {
        "generate_s": round(gen_s, 3),
        "generated_samples": n_generated,
        "generated_tokens": gen_tokens,
        "tokens_per_s": round(gen_tokens / gen_s, 2) if gen_s > 0 else float("nan"),
        "execute_s": round(runs.exec_s, 3),
    }
