"""Shared-prefill branching equals single-sequence greedy generation (Model.generate) on tiny models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tokprobe.errors import InputError
from tokprobe.models import Model, load
from tokprobe.models.branching import BranchStats, generate_branches


@pytest.fixture(scope="module")
def tiny(tiny_model_path: Path) -> Iterator[Model]:
    m = load(tiny_model_path, n_ctx=512, n_batch=128, threads=2)
    yield m
    m.close()


def _streams(m: Model) -> list[np.ndarray]:
    texts = ["def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n",
             "int main(void) {\n  int x = 0;\n  for (int i = 0; i < 10; i++) x += i;\n  return x;\n}\n"]
    return [m.tokenize(t) for t in texts]


@pytest.mark.parametrize("max_seq", [1, 3, 32])
def test_branches_equal_model_generate(tiny: Model, max_seq: int) -> None:
    streams = _streams(tiny)
    cuts = [[3, 7, 8, len(streams[0]) - 2], [5, 12]]
    st = BranchStats()
    out = generate_branches(tiny, streams, cuts, max_tokens=6, max_seq=max_seq, stats=st)
    assert [len(b) for b in out] == [4, 2]
    for arr, cl, branches in zip(streams, cuts, out, strict=True):
        for c, b in zip(cl, branches, strict=True):
            g = tiny.generate(arr[:c], max_tokens=6, temperature=0.0)
            assert b.token_ids == g.token_ids, (c, b, g)
            assert b.text == g.text and b.stop_reason == g.stop_reason
    assert st.n_prefill == sum(cl[-1] for cl in cuts)  # each stream prefilled once, up to its last cut
    assert st.n_generated == sum(len(b.token_ids) for bs in out for b in bs)


def test_stop_rule_and_first_rows(tiny: Model) -> None:
    streams = _streams(tiny)
    seen: dict[int, int] = {}

    def on_first(i: int, logits: np.ndarray) -> None:
        seen[i] = int(np.argmax(logits))

    out = generate_branches(tiny, streams, [[4, 9], [6]], max_tokens=5,
                            stop=lambda i, text: i == 1 and len(text) > 0, on_first=on_first)
    flat = [b for bs in out for b in bs]
    assert sorted(seen) == [0, 1, 2]
    for i, b in enumerate(flat):
        if b.token_ids:
            assert b.token_ids[0] == seen[i]
    assert flat[1].stop_reason == "stop" and len(flat[1].token_ids) == 1


def test_many_groups_and_a_small_cell_budget(tiny: Model) -> None:
    streams = _streams(tiny) * 3
    cuts = [[len(s) // 2, len(s) - 1] for s in streams]
    a = generate_branches(tiny, streams, cuts, max_tokens=4, max_cells=40)
    b = generate_branches(tiny, streams, cuts, max_tokens=4, max_cells=4096)
    assert [[x.token_ids for x in bs] for bs in a] == [[x.token_ids for x in bs] for bs in b]


def test_bad_arguments(tiny: Model) -> None:
    streams = _streams(tiny)
    with pytest.raises(InputError, match="must lie in"):
        generate_branches(tiny, streams[:1], [[0]], max_tokens=2)
    with pytest.raises(InputError, match="ascending"):
        generate_branches(tiny, streams[:1], [[5, 3]], max_tokens=2)
    with pytest.raises(InputError, match="max_tokens"):
        generate_branches(tiny, streams[:1], [[3]], max_tokens=0)
    with pytest.raises(InputError, match="lists of cuts"):
        generate_branches(tiny, streams, [[3]], max_tokens=2)
