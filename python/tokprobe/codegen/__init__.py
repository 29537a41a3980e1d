"""HumanEval code generation quality: problems, sandboxed execution, pass@k and flips.

Typical use::

    import tokprobe
    from tokprobe import codegen

    problems = codegen.load_problems(limit=20)
    with tokprobe.load("gemma3-270m") as model:
        result = codegen.run_codegen(model, problems)        # greedy, bigcode stop sequences
    result.pass_at(1), result.problems, result.samples, result.run_dir

    runs = codegen.run_codegen_many(["gemma3-270m-F16", "gemma3-270m-Q2_K"], problems)  # one shared sandbox
    runs.summary(), runs.flips()                                # pass@k per model, flips against the first

    # execution alone (no model): every program runs in a sandboxed subprocess
    with codegen.Sandbox(codegen.Limits(timeout_s=5)) as sb:
        res = sb.run(problems[0].program(problems[0].canonical_solution))   # res.kind == "pass"

    codegen.pass_at_k(n=10, c=3, k=5)                            # unbiased estimator
    codegen.flips(ref.problems, var.problems)                   # pass->fail / fail->pass
"""

from .flips import FLIP_KINDS, DivergenceFn, attach_divergence, flip_summary, flips
from .limits import Limits
from .many import CodegenRuns, run_codegen_many
from .passk import default_ks, estimate, pass_at_k, pass_at_k_array, pass_at_k_naive
from .plot import plot_pass_at_k
from .problems import (
    CODEX_STOP_SEQUENCES,
    STOP_SEQUENCES,
    STOP_SETS,
    Problem,
    build_program,
    default_data_path,
    load_problems,
    problems_digest,
    resolve_stops,
    truncate_at_stop,
)
from .procs import SandboxError, leftover_processes
from .prompts import build_prompt, resolve_prompt_mode
from .results import CodegenResult, load_run
from .runner import full_data_digest, run_codegen
from .samples import generate_sample
from .sandbox import Sandbox, SandboxWarning
from .settings import DEFAULT_RUN_ROOT, PROMPT_MODES, CodegenSettings, run_dir_for, sample_seed
from .verdict import KINDS, ExecResult

__all__ = [
    "CODEX_STOP_SEQUENCES", "STOP_SEQUENCES", "STOP_SETS", "Problem", "build_program", "default_data_path",
    "load_problems", "problems_digest", "resolve_stops", "truncate_at_stop",
    "KINDS", "ExecResult", "Limits", "Sandbox", "SandboxError", "SandboxWarning", "leftover_processes",
    "default_ks", "estimate", "pass_at_k", "pass_at_k_array", "pass_at_k_naive",
    "DEFAULT_RUN_ROOT", "PROMPT_MODES", "CodegenResult", "CodegenSettings", "build_prompt", "generate_sample",
    "load_run", "resolve_prompt_mode", "run_codegen", "run_dir_for", "sample_seed",
    "CodegenRuns", "full_data_digest", "run_codegen_many",
    "FLIP_KINDS", "DivergenceFn", "attach_divergence", "flip_summary", "flips",
    "plot_pass_at_k",
]
