"""Run the completion probes of a corpus through a reference and its variants (``tokprobe complete``).

For each model, each file is tokenized once and its probes are generated greedily from one shared
prefill (:func:`tokprobe.models.branching.generate_branches`: the prefix is decoded once, the probes
branch from its KV state by sequence copy and are decoded together as parallel sequences). Every
probe gets exact match, edit similarity and syntactic validity; against the reference (first
model) also the divergence at the probe's first generated token: KL(ref || variant) over the
reference's top-256 tokens plus the rest as one class (a lower bound of the full KL that is tight
when those tokens hold nearly all of the mass; the rule is in the provenance).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import io, provenance
from ..corpus import Corpus, load_corpus
from ..errors import EmptyInputError, InputError
from ..models import label_for, open_labelled, unique_labels
from ..models.branching import Branch, BranchStats, generate_branches
from .metrics import edit_similarity, exact_match, normalize
from .plan import CorpusPlan, FilePlan, Prompts, file_prompts, plan_corpus
from .probes import MODES, block_end
from .result import CompleteResult
from .syntax import error_count, python_ast_ok, splice

Progress = Callable[[int, int], None]
DEFAULT_MAX_TOKENS = {"line": 32, "block": 96}
TOP_K = 256
KL_RULE = f"KL(ref||var) over the reference's top-{TOP_K} first tokens plus the rest as one class (a lower bound)"


@dataclass(frozen=True)
class ProbeSettings:
    """``context``: tokens of preceding code a prompt keeps at most (the n_ctx of a prompt; a longer
    one is cut from the left and the cut is recorded); ``max_seq``: probes decoded together as
    parallel sequences; ``max_cells``: prefix tokens prefilled into one KV cache at a time (attention
    cost grows with it); ``max_tokens``: None = 32 (line) / 96 (block)."""

    mode: str = "line"
    probes_per_language: int = 8
    max_tokens: int | None = None
    context: int = 512
    max_seq: int = 32
    max_cells: int = 1024
    seed: int = 0
    threads: int | None = None
    n_boot: int = 1000

    def check(self) -> ProbeSettings:
        if self.mode not in MODES:
            raise InputError(f"unknown completion mode {self.mode!r}; use one of {', '.join(MODES)}")
        for name in ("probes_per_language", "context", "max_seq", "max_cells", "n_boot"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise InputError(f"max_tokens must be at least 1, got {self.max_tokens}")
        return self

    @property
    def tokens(self) -> int:
        return int(self.max_tokens) if self.max_tokens is not None else DEFAULT_MAX_TOKENS[self.mode]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["max_tokens"] = self.tokens
        return d


def extract(text: str, lead_newlines: int, mode: str, indent: int) -> tuple[str, bool]:
    """The completion in generated ``text`` and whether it is complete (the line or block ended).

    The first ``lead_newlines`` newlines belong to the bytes before the probe (a token straddling
    it); line mode ends at the next newline, block mode before the first later line indented
    ``indent`` columns or less."""
    pos = 0
    for _ in range(lead_newlines):
        j = text.find("\n", pos)
        if j < 0:
            return text, False
        pos = j + 1
    rest = text[pos:]
    if mode == "line":
        j = rest.find("\n")
        return (text[:pos + j], True) if j >= 0 else (text, False)
    e = block_end(rest, indent)
    return (text[:pos + e], True) if e < len(rest) else (text, False)


class FirstTokens:
    """The reference's first-token distributions (top-K log-probs and the tail), and a variant's KL to them."""

    def __init__(self) -> None:
        self.ref: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, int]] = {}

    def save(self, path: str | os.PathLike[str]) -> None:
        """The kept distributions as one ``.npz`` (a study unit hands them from the reference to the variants)."""
        keys = sorted(self.ref)
        width = max((self.ref[k][0].size for k in keys), default=0)
        ids = np.full((len(keys), width), -1, dtype=np.int64)
        lps = np.full((len(keys), width), np.nan, dtype=np.float64)
        for i, k in enumerate(keys):
            top, lp, _ = self.ref[k]
            ids[i, :top.size], lps[i, :lp.size] = top, lp
        arrays: dict[str, Any] = {"keys": np.array(keys, dtype=np.int64).reshape(-1, 2), "ids": ids, "logp": lps,
                  "argmax": np.array([self.ref[k][2] for k in keys], dtype=np.int64)}
        with io.atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FirstTokens:
        out = cls()
        with np.load(path) as z:
            for (f, p), ids, lps, arg in zip(z["keys"], z["ids"], z["logp"], z["argmax"], strict=True):
                n = int((ids >= 0).sum())
                out.ref[(int(f), int(p))] = (ids[:n], lps[:n], int(arg))
        return out

    @staticmethod
    def _logp(logits: np.ndarray) -> np.ndarray:
        x = logits.astype(np.float64)
        m = float(x.max())
        out: np.ndarray = x - (m + math.log(float(np.exp(x - m).sum())))
        return out

    def keep(self, key: tuple[int, int], logits: np.ndarray) -> None:
        lp = self._logp(logits)
        top = np.argpartition(-lp, TOP_K)[:TOP_K] if lp.size > TOP_K else np.arange(lp.size)
        self.ref[key] = (top, lp[top], int(np.argmax(logits)))

    def kl(self, key: tuple[int, int], logits: np.ndarray) -> tuple[float, bool]:
        """(KL(ref || var) with the tail as one class, whether the argmax is the reference's)."""
        if key not in self.ref:
            return math.nan, False
        top, lp_ref, ref_arg = self.ref[key]
        lq = self._logp(logits)[top]
        p = np.exp(lp_ref)
        r = max(0.0, 1.0 - float(p.sum()))
        q_tail = max(1e-300, 1.0 - float(np.exp(lq).sum()))
        kl = float(np.sum(p * (lp_ref - lq))) + (r * math.log(r / q_tail) if r > 0 else 0.0)
        return max(kl, 0.0), int(np.argmax(logits)) == ref_arg


def _pieces(model: Any, ids: np.ndarray) -> list[bytes]:
    """The bytes of each token (control tokens: none; SentencePiece: the first piece without its prefix space)."""
    vocab = model.vocab
    pieces = [vocab.token_to_piece(int(t), special=False) for t in ids]
    if vocab.add_space_prefix:
        for i, p in enumerate(pieces):
            if p:
                pieces[i] = p[1:] if p.startswith(b" ") else p
                break
    return pieces


def prompt_sets(model: Any, fp: FilePlan, context: int) -> list[Prompts]:
    """The file's probes as shared streams, or one stream per probe when the tokens do not
    reproduce the file's bytes (a normalising tokenizer)."""
    bos = model.vocab.bos_id if model.vocab.add_bos and model.vocab.bos_id >= 0 else None
    head = np.array([bos] if bos is not None else [], dtype=np.int32)
    ids = np.concatenate([head, model.tokenize(fp.data, add_bos=False)])
    pieces = _pieces(model, ids)
    if b"".join(pieces) == fp.data:
        return file_prompts(ids, pieces, fp.probes, context=context, bos=bos)
    out = []
    for i, p in enumerate(fp.probes):
        sub = np.concatenate([head, model.tokenize(fp.data[:p.start], add_bos=False)])
        if sub.size == 0:
            continue
        for pr in file_prompts(sub, [b""] * (sub.size - 1) + [fp.data[:p.start]], [p], context=context, bos=bos):
            pr.probes = [i]
            out.append(pr)
    return out


@dataclass
class _Slot:
    """One probe of one model's run: its file, prompt set, index in it and the newlines before it."""

    fp: FilePlan
    pr: Prompts
    i: int
    lead_newlines: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.fp.index, self.pr.probes[self.i])


def _score_model(model: Any, label: str, files: list[FilePlan], s: ProbeSettings, first: FirstTokens, is_ref: bool,
                 same_vocab: bool, st: BranchStats, tick: Callable[[int], None]) -> list[dict[str, Any]]:
    """Every probe of ``files`` for one model, in one branched generation (prefills shared, probes in parallel)."""
    sets = [(fp, pr) for fp in files for pr in prompt_sets(model, fp, s.context) if pr.cuts]
    slots = [_Slot(fp, pr, i, fp.data[pr.starts[i]:fp.probes[k].start].decode("utf-8", "replace").count("\n"))
             for fp, pr in sets for i, k in enumerate(pr.probes)]
    tick(sum(len(fp.probes) for fp in files) - len(slots))  # probes without a prompt (none precedes them)
    if not slots:
        return []
    kl_same: dict[int, tuple[float, bool]] = {}

    def stop(i: int, text: str) -> bool:
        sl = slots[i]
        return extract(text, sl.lead_newlines, s.mode, sl.fp.probes[sl.pr.probes[sl.i]].indent)[1]

    def on_first(i: int, logits: np.ndarray) -> None:
        if is_ref:
            first.keep(slots[i].key, logits)
        else:
            kl_same[i] = first.kl(slots[i].key, logits) if same_vocab else (math.nan, False)

    out = generate_branches(model, [pr.stream for _, pr in sets], [pr.cuts for _, pr in sets], max_tokens=s.tokens,
                            stop=stop, on_first=on_first, max_seq=s.max_seq, max_cells=s.max_cells, stats=st,
                            progress=tick)
    rows = []
    for i, (sl, b) in enumerate(zip(slots, [b for bs in out for b in bs], strict=True)):
        kl, same = (0.0, True) if is_ref else kl_same.get(i, (math.nan, False))
        rows.append(_row(label, sl.fp, sl.pr, sl.i, b, sl.lead_newlines, s.mode, kl, same))
    return rows


def _row(label: str, fp: FilePlan, pr: Prompts, i: int, b: Branch, lead_nl: int, mode: str, kl: float,
         same: bool) -> dict[str, Any]:
    p = fp.probes[pr.probes[i]]
    begin = pr.starts[i]
    completion, _ = extract(b.text, lead_nl, mode, p.indent)
    truth = fp.data[begin:p.end].decode("utf-8", "replace")
    spliced = splice(fp.data, begin, p.end, completion)
    errors_after = error_count(spliced, fp.grammar) if fp.grammar is not None else -1
    ast_ok = float(python_ast_ok(spliced)) if fp.language == "python" else math.nan
    valid = float(errors_after <= fp.errors_before) if fp.grammar is not None else math.nan
    if fp.ast_before and valid == 1.0:  # tree-sitter tolerates indentation errors; Python's parser does not
        valid = ast_ok
    return {"model": label, "language": fp.language, "file": fp.path, "probe": pr.probes[i], "line": p.line,
            "mode": mode, "start": begin, "n_prompt": b.cut, "cut_left": pr.left, "truth": truth,
            "completion": completion, "exact": float(exact_match(completion, truth)),
            "edit_sim": edit_similarity(completion, truth), "errors_before": fp.errors_before,
            "errors_after": errors_after, "valid": valid, "ast_ok": ast_ok, "stop_reason": b.stop_reason,
            "n_generated": len(b.token_ids), "empty": not normalize(completion),
            "first_token": b.token_ids[0] if b.token_ids else -1, "kl_first": kl, "first_same": same}


@dataclass
class ModelPass:
    """One model's completions of a plan: its probe rows, its cost row, its provenance and vocabulary digest."""

    label: str
    rows: list[dict[str, Any]]
    cost: dict[str, Any]
    info: dict[str, Any]
    vocab_digest: str


def plan_probes(corpus: str | Corpus | None, settings: ProbeSettings | None = None) -> tuple[Corpus, CorpusPlan]:
    """The corpus and its probe plan (:class:`EmptyInputError` when it has no probe position of the mode)."""
    s = (settings or ProbeSettings()).check()
    corp = corpus if isinstance(corpus, Corpus) else load_corpus(corpus)
    plan = plan_corpus(corp, s.mode, s.probes_per_language, seed=s.seed)
    if plan.n_probes == 0:
        raise EmptyInputError(f"no {s.mode} probe positions in the corpus ({len(corp.files)} files)")
    return corp, plan


def complete_model(spec: Any, label: str, plan: CorpusPlan, s: ProbeSettings, first: FirstTokens, *,
                   is_ref: bool, ref_digest: str = "", tick: Callable[[int], None] = lambda n: None) -> ModelPass:
    """Every probe of ``plan`` for one model. The reference (``is_ref``) fills ``first``; a variant is scored
    against it (KL at the first token, when its vocabulary digest is ``ref_digest``)."""
    t0, c0 = time.perf_counter(), time.process_time()
    lm = open_labelled(spec, threads=s.threads, seed=s.seed)
    try:
        model = lm.load_full(n_ctx=max(1024, s.context + s.tokens), n_batch=512, threads=s.threads, seed=s.seed)
        digest = model.vocab.digest
        info = lm.info()
        st = BranchStats()
        t1 = time.perf_counter()
        rows = _score_model(model, label, plan.files, s, first, is_ref, is_ref or digest == ref_digest, st, tick)
    finally:
        lm.close()
    cost = {"model": label, "n_probes": len(rows), "n_prefill": st.n_prefill, "n_generated": st.n_generated,
            "n_decodes": st.n_decodes, "seconds_load": t1 - t0, "seconds_prefill": st.seconds_prefill,
            "seconds_generate": st.seconds_generate, "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0}  # CPU time: the wall time on a shared machine lies
    return ModelPass(label, rows, cost, info, digest)


def assemble(corp: Corpus, plan: CorpusPlan, s: ProbeSettings, passes: Sequence[ModelPass]) -> CompleteResult:
    """The result of the models' passes (the reference's first), as :func:`complete` returns it."""
    rows: list[dict[str, Any]] = []
    notes = list(plan.notes)
    for k, mp in enumerate(passes):
        rows += mp.rows
        notes += _output_notes(mp.label, mp.rows, k == 0)
    prov = provenance.Provenance(settings={**s.to_dict(), "kl_rule": KL_RULE, "corpus": str(corp.root),
                                           "corpus_digest": corp.digest, "notes": notes},
                                 models={mp.label: mp.info for mp in passes})
    return CompleteResult.build(rows, [mp.cost for mp in passes], [mp.label for mp in passes], prov.to_dict(), notes,
                                n_boot=s.n_boot, seed=s.seed)


def complete(reference: Any, variants: Sequence[Any] = (), *, corpus: str | Corpus | None = None,
             settings: ProbeSettings | None = None, progress: Progress | None = None) -> CompleteResult:
    """Completion probes of ``corpus`` (default: the shipped corpus) for ``reference`` and ``variants``.

    Models are given as names, GGUF paths or loaded models; the first is the reference. Raises
    :class:`EmptyInputError` when the corpus has no probe position of the mode at all. Each model is one
    :func:`complete_model` pass (a study on a cluster runs them as units) and :func:`assemble` joins them."""
    s = (settings or ProbeSettings()).check()
    corp, plan = plan_probes(corpus, s)
    specs = [reference, *variants]
    labels = unique_labels([label_for(x) for x in specs])
    total, done = plan.n_probes * len(specs), 0
    if progress is not None:
        progress(0, total)

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    first = FirstTokens()
    passes: list[ModelPass] = []
    for k, (spec, label) in enumerate(zip(specs, labels, strict=True)):
        ref_digest = passes[0].vocab_digest if passes else ""
        passes.append(complete_model(spec, label, plan, s, first, is_ref=k == 0, ref_digest=ref_digest, tick=tick))
    return assemble(corp, plan, s, passes)


def _output_notes(label: str, rows: list[dict[str, Any]], is_ref: bool) -> list[str]:
    """What to say about a model whose completions are empty (only EOS or whitespace), and (once, for the
    reference) about prompts cut from the left."""
    notes = []
    empty = sum(1 for r in rows if r["empty"])
    if rows and empty == len(rows):
        notes.append(f"{label}: every completion is empty (the model emits only EOS or whitespace); "
                     "it scores 0 exact match and is kept in the tables")
    elif empty:
        notes.append(f"{label}: {empty} of {len(rows)} completions are empty (only EOS or whitespace)")
    cut = sum(1 for r in rows if r["cut_left"] > 0)
    if cut and is_ref:
        notes.append(f"{cut} of {len(rows)} prompts were cut from the left to the context of the settings "
                     "(column cut_left: tokens left out)")
    return notes


def plan_only(corpus: str | Corpus | None, settings: ProbeSettings | None = None) -> CorpusPlan:
    """The probe plan alone (no model): which files and probes a run would use."""
    s = (settings or ProbeSettings()).check()
    corp = corpus if isinstance(corpus, Corpus) else load_corpus(corpus)
    return plan_corpus(corp, s.mode, s.probes_per_language, seed=s.seed)
