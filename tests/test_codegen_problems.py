"""HumanEval problem loading, programs, stop sequences, and the resumable JSONL store."""

from __future__ import annotations

import gzip
import json

import pytest

from tokprobe.codegen import (
    CODEX_STOP_SEQUENCES,
    STOP_SEQUENCES,
    load_problems,
    problems_digest,
    resolve_stops,
    truncate_at_stop,
)
from tokprobe.codegen.store import JsonlStore, RunLock
from tokprobe.errors import EmptyInputError, FileFormatError, InputError


def test_load_all():
    ps = load_problems()
    assert len(ps) == 164
    assert ps[0].task_id == "HumanEval/0" and ps[-1].task_id == "HumanEval/163"
    assert all(p.prompt.endswith("\n") and p.entry_point and "def check(candidate)" in p.test for p in ps)
    assert len({p.task_id for p in ps}) == 164


def test_subsets():
    assert [p.task_id for p in load_problems(limit=3)] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    got = load_problems(task_ids=["HumanEval/12", 3, "7"])
    assert [p.task_id for p in got] == ["HumanEval/3", "HumanEval/7", "HumanEval/12"]  # file order
    assert len(load_problems(task_ids=[1, 2, 3], limit=2)) == 2
    with pytest.raises(InputError):
        load_problems(task_ids=["HumanEval/999"])
    with pytest.raises(InputError):
        load_problems(limit=0)


def test_bad_files(tmp_path):
    with pytest.raises(FileFormatError):
        load_problems(tmp_path / "missing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "x"}\n')
    with pytest.raises(FileFormatError):
        load_problems(bad)
    empty = tmp_path / "empty.jsonl.gz"
    with gzip.open(empty, "wt") as fh:
        fh.write("\n")
    with pytest.raises(EmptyInputError):
        load_problems(empty)
    notjson = tmp_path / "nj.jsonl"
    notjson.write_text("not json\n")
    with pytest.raises(FileFormatError):
        load_problems(notjson)


def test_custom_file(tmp_path):
    row = {"task_id": "T/0", "prompt": "def f():\n", "entry_point": "f", "canonical_solution": "    return 1\n",
           "test": "def check(candidate):\n    assert candidate() == 1\n"}
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (p,) = load_problems(path)
    assert p.program(p.canonical_solution) == (
        "def f():\n    return 1\n\ndef check(candidate):\n    assert candidate() == 1\n\ncheck(f)\n"
    )
    assert problems_digest([p]) != problems_digest(load_problems(limit=1))


def test_truncate_at_stop():
    text = "    return x\n\ndef other():\n    pass\n"
    assert truncate_at_stop(text, STOP_SEQUENCES) == ("    return x\n", "\ndef")
    assert truncate_at_stop("    x = 1\n    # indented comment\n    return x\n", STOP_SEQUENCES)[1] is None
    assert truncate_at_stop("    return 1\nif __name__ == '__main__':\n", STOP_SEQUENCES) == ("    return 1", "\nif")
    assert truncate_at_stop("    return 1\n```\n", STOP_SEQUENCES) == ("    return 1", "\n```")
    assert truncate_at_stop("abc", ()) == ("abc", None)
    # a stop that starts in the prompt and ends in the completion
    assert truncate_at_stop("```\nThe function...", STOP_SEQUENCES, context='    """\n') == ("", "\n```")
    # only the fence: other stops are searched in the completion alone (as the harnesses do)
    assert truncate_at_stop("# note\n    return 1\n", STOP_SEQUENCES, context="x\n") == ("# note\n    return 1\n", None)
    assert truncate_at_stop("    return 1\n", STOP_SEQUENCES, context="x\n") == ("    return 1\n", None)
    # the earliest match wins, whatever the order of the list
    assert truncate_at_stop("a\nprint(1)\n#c", ["\n#", "\nprint"]) == ("a", "\nprint")


def test_resolve_stops():
    assert resolve_stops(None) == STOP_SEQUENCES
    assert resolve_stops("codex") == CODEX_STOP_SEQUENCES
    assert resolve_stops(["none"]) == ()
    assert resolve_stops(["\\nfoo", "bar"]) == ("\nfoo", "bar")
    with pytest.raises(InputError):
        resolve_stops([""])


# --------------------------------------------------------------------------------------- store


def test_store_append_and_reload(tmp_path):
    path = tmp_path / "r.jsonl"
    with JsonlStore(path) as st:
        st.append({"task_id": "a", "sample": 0})
        st.append({"task_id": "b", "sample": 0, "text": "ünïcode\n\"q\""})
    with JsonlStore(path) as st:
        assert [r["task_id"] for r in st] == ["a", "b"]
        assert st.records[1]["text"] == "ünïcode\n\"q\""


def test_store_ignores_torn_last_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"task_id": "a", "sample": 0}\n{"task_id": "b", "sam')
    with JsonlStore(path) as st:
        assert [r["task_id"] for r in st] == ["a"]
        assert st.torn_bytes > 0
        st.append({"task_id": "c", "sample": 0})
    lines = path.read_text().splitlines()
    assert [json.loads(x)["task_id"] for x in lines] == ["a", "c"]


def test_store_rejects_corruption_in_the_middle(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"task_id": "a"}\ngarbage\n{"task_id": "b"}\n')
    with pytest.raises(FileFormatError):
        JsonlStore(path)


def test_store_rejects_nan(tmp_path):
    with JsonlStore(tmp_path / "r.jsonl") as st:
        with pytest.raises(ValueError):
            st.append({"x": float("nan")})


def test_run_lock(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(InputError):
            RunLock(tmp_path)
    RunLock(tmp_path).release()
