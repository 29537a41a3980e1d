"""The probe plan of a corpus (model independent), and each model's prompts for one file's probes.

:func:`plan_corpus` picks ``probes_per_language`` probes in every language, shared out over the
language's files (consecutive candidates from a seeded start in each file), and counts each file's
own syntax errors once. :func:`file_prompts` turns a file's probes into one token stream and its
cuts for a model: the file is tokenized once; a probe's prompt is every token that ends at or
before the probe's byte offset (when a token straddles the offset, the completion starts at that
token's start: the ``lead`` bytes belong to both the prompt's end and the continuation), cut from
the left to at most ``context`` tokens (BOS kept); the cut is recorded per probe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..corpus import Corpus
from .probes import Probe, sample_probes
from .syntax import GrammarError, error_count, grammar_for, python_ast_ok


@dataclass
class FilePlan:
    """One file with probes: its text and bytes, grammar, own error count, and probes."""

    index: int
    path: str  # relative to the corpus root
    language: str
    text: str
    data: bytes
    probes: list[Probe]
    grammar: str | None  # None when the grammar did not load
    errors_before: int = -1
    ast_before: bool = False  # Python: whether the file itself passes Python's own parser


@dataclass
class CorpusPlan:
    files: list[FilePlan]
    notes: list[str] = field(default_factory=list)

    @property
    def n_probes(self) -> int:
        return sum(len(f.probes) for f in self.files)


def _shares(n: int, k: int) -> list[int]:
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def plan_corpus(corpus: Corpus, mode: str, probes_per_language: int, *, seed: int = 0) -> CorpusPlan:
    """Probes in every language of ``corpus`` (a language without probe positions gets a note)."""
    plan = CorpusPlan([])
    broken: set[str] = set()
    for language, files in corpus.by_language().items():
        got = 0
        for j, (f, n) in enumerate(zip(files, _shares(probes_per_language, len(files)), strict=True)):
            probes = sample_probes(f.text, language, mode, n, seed=seed + 1009 * j)
            if not probes:
                continue
            rel = corpus.relpath(f)
            fp = FilePlan(len(plan.files), rel, language, f.text, f.text.encode("utf-8", "surrogateescape"),
                          probes, None)
            try:
                grammar = grammar_for(language, rel)
                fp.errors_before = error_count(fp.data, grammar)
                fp.grammar = grammar  # only once it has parsed the file
            except GrammarError as exc:
                if language not in broken:
                    plan.notes.append(f"{language}: validity not measured: {exc}")
                    broken.add(language)
            fp.ast_before = language == "python" and python_ast_ok(fp.data)
            plan.files.append(fp)
            got += len(probes)
        if got == 0:
            plan.notes.append(f"{language}: no {mode} probe positions in its {len(files)} file(s); left out")
    return plan


@dataclass
class Prompts:
    """Some of a file's probes for one model: their shared stream, each probe's cut and where its completion starts."""

    stream: np.ndarray  # token ids: [BOS] + the file's tokens from ``left`` on, up to the last cut
    cuts: list[int]  # prompt length (tokens of ``stream``) per probe, ascending
    starts: list[int]  # byte offset where each completion starts (<= the probe's start)
    left: int  # tokens of the file cut from the left (0: each prompt is the whole preceding file)
    probes: list[int]  # index (into FilePlan.probes) of each probe that has a prompt


def token_ends(pieces: list[bytes]) -> np.ndarray:
    return np.cumsum(np.fromiter((len(p) for p in pieces), dtype=np.int64, count=len(pieces)))


def file_prompts(ids: np.ndarray, pieces: list[bytes], probes: list[Probe], *, context: int, bos: int | None,
                 ) -> list[Prompts]:
    """A file's probes as streams whose every prompt holds at most ``context`` tokens (BOS included).

    ``ids``/``pieces``: the file's tokens and their bytes (BOS first, with no bytes, when the model
    adds one; ``bos`` its id then); ``pieces`` must concatenate to the file's bytes. Probes share a
    stream while they lie within ``context // 2`` tokens of its first probe, so every prompt keeps at
    least half of ``context`` (or the whole preceding file); a longer file is cut from the left, the
    same cut for every probe of a stream (``Prompts.left``)."""
    ends = token_ends(pieces)
    head = 1 if bos is not None else 0
    room = max(1, int(context) - head)  # file tokens a prompt may hold
    items = []
    for i, p in enumerate(probes):
        k = int(np.searchsorted(ends, p.start, side="right"))  # tokens ending at or before the probe
        if k >= 1:  # something precedes it (at least the BOS)
            items.append((k, int(ends[k - 1]) if k else 0, i))
    items.sort()
    out: list[Prompts] = []
    group: list[tuple[int, int, int]] = []
    for it in items:
        if group and it[0] - group[0][0] > room // 2:
            out.append(_stream(ids, group, head, room))
            group = []
        group.append(it)
    if group:
        out.append(_stream(ids, group, head, room))
    return out


def _stream(ids: np.ndarray, group: list[tuple[int, int, int]], head: int, room: int) -> Prompts:
    last = group[-1][0]
    left = max(head, last - room)
    stream = np.concatenate([ids[:head], ids[left:last]]).astype(np.int32)
    cuts = [head + k - left for k, _, _ in group]
    return Prompts(stream, cuts, [s for _, s, _ in group], left - head, [i for _, _, i in group])
