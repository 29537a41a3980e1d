"""The probe sampler's positions on small hand-made files, and the prompts cut from a token stream."""

from __future__ import annotations

import numpy as np
import pytest

from tokprobe.complete import block_end, candidates, sample_probes
from tokprobe.complete.plan import file_prompts
from tokprobe.complete.probes import Probe
from tokprobe.errors import InputError

PY = '''import os

# a comment
def f(x):
    """Doc."""
    y = x + 1

    return y


class A:
    def g(self):
        z = 2
        return z
'''

C = '''int f(int x) {
  // note
  if (x) {
    return 1;
  }
  return 0;
}
'''


def _texts(src: str, mode: str, language: str) -> list[tuple[int, str]]:
    data = src.encode()
    return [(p.line, data[p.start:p.end].decode()) for p in candidates(src, language, mode)]


def test_line_probes_skip_comments_strings_and_blank_lines() -> None:
    # the first line has no prompt (nothing precedes it)
    assert _texts(PY, "line", "python") == [
        (4, "def f(x):"), (6, "y = x + 1"), (8, "return y"), (11, "class A:"),
        (12, "def g(self):"), (13, "z = 2"), (14, "return z")]
    # the closing braces hold no letter or digit, the comment is no code
    assert _texts(C, "line", "c") == [(3, "if (x) {"), (4, "return 1;"), (6, "return 0;")]


def test_line_probe_offsets_are_the_first_non_blank_byte() -> None:
    p = candidates(PY, "python", "line")[1]
    assert (p.start, p.end) == (PY.index("y = x"), PY.index("y = x") + len("y = x + 1"))


def test_block_probes_after_colon_or_brace() -> None:
    # def f's block starts with a docstring (no code line) and is skipped; class A's block runs to the end
    assert _texts(PY, "block", "python") == [
        (12, "def g(self):\n        z = 2\n        return z"), (13, "z = 2\n        return z")]
    # the comment line before `if` is skipped when looking for the opener; closing braces are not part
    assert _texts(C, "block", "c") == [(3, "if (x) {\n    return 1;\n  }\n  return 0;"), (4, "return 1;")]
    p = candidates(C, "c", "block")[1]
    assert p.indent == 2


def test_ruby_do_opens_a_block() -> None:
    rb = "items.each do |x|\n  puts x\nend\n"
    assert _texts(rb, "block", "ruby") == [(2, "puts x")]


def test_sample_is_seeded_consecutive_and_bounded() -> None:
    every = candidates(PY, "python", "line")
    a = sample_probes(PY, "python", "line", 3, seed=1)
    assert a == sample_probes(PY, "python", "line", 3, seed=1)
    i = every.index(a[0])
    assert a == every[i:i + 3]
    assert sample_probes(PY, "python", "line", 100) == every
    assert sample_probes(PY, "python", "line", 0) == []
    assert sample_probes("# only a comment\n", "python", "line", 5) == []


def test_unknown_mode_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown completion mode"):
        candidates(PY, "python", "word")


def test_block_end_stops_at_the_opener_indentation() -> None:
    assert block_end("a\n    b\n\n    c\n  }\n", 2) == len("a\n    b\n\n    c")
    assert block_end("a\n    b", 2) == len("a\n    b")


def test_prompts_share_a_stream_and_cut_from_the_left() -> None:
    # five tokens of 2 bytes after a BOS: byte offsets 0, 2, 4, 6, 8, 10
    pieces = [b"", b"ab", b"cd", b"ef", b"gh", b"ij"]
    ids = np.arange(100, 106, dtype=np.int32)
    probes = [Probe(4, 6, 1, "line"), Probe(7, 8, 1, "line"), Probe(9, 10, 1, "line")]
    (pr,) = file_prompts(ids, pieces, probes, context=100, bos=100)
    assert pr.stream.tolist() == [100, 101, 102, 103, 104] and pr.left == 0
    assert pr.cuts == [3, 4, 5]  # BOS + the tokens ending at or before each probe
    assert pr.starts == [4, 6, 8]  # the second and third probes start inside a token: at its start
    # context 3 (BOS + 2 tokens): every prompt keeps at most 3 tokens; a stream spans at most 1 token of probes
    prs = file_prompts(ids, pieces, probes, context=3, bos=100)
    assert [p.stream.tolist() for p in prs] == [[100, 102, 103], [100, 103, 104]]
    assert [p.cuts for p in prs] == [[2, 3], [3]]
    assert [p.left for p in prs] == [1, 2]  # file tokens cut from the left, recorded
    assert [p.probes for p in prs] == [[0, 1], [2]]


def test_prompt_without_bos_needs_a_token_before_the_probe() -> None:
    pieces = [b"ab", b"cd"]
    prs = file_prompts(np.array([1, 2], dtype=np.int32), pieces, [Probe(0, 2, 1, "line"), Probe(2, 4, 1, "line")],
                       context=8, bos=None)
    assert len(prs) == 1 and prs[0].probes == [1] and prs[0].cuts == [1]
