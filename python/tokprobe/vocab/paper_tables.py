"""The paper's vocabulary tables (arXiv 2601.02563) for its three tokenizers, from one call.

``paper_tables()`` analyses Qwen2.5, DeepSeek-V3 and Llama 3.1 (by default the tokenizer.json files
that ``tokprobe vocabs fetch`` installs: ``qwen3``, ``deepseek-v3``, ``llama3.1``; Qwen3's base
vocabulary is byte for byte Qwen2.5's, the ``qwen2`` GGUF's, see docs/tokenizers.md) and returns:

* ``counts``: base vocabulary (the paper's counts) and added/special tokens apart, with the base digest;
* ``coverage``: keyword coverage per language and form, with the number of misses;
* ``splits``: how every missed keyword splits (one row per language, keyword and form);
* ``vocab``: whitespace-only tokens as the paper's repository counted them (base ids whose decoded
  text is empty after ``str.strip()``, each id decoded alone) with their share of the base vocabulary,
  and the share of programming-symbol tokens: base entries of class ``operator``
  (:mod:`tokprobe.lexicon.token_classes` rule 4: after stripping surrounding whitespace, non-empty and
  nothing but ASCII punctuation/symbols, inner whitespace allowed; ``keyword``/``digits`` excluded);
* ``corpus``: bytes per token and tokens per line per language on a code corpus (default: the shipped one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import io
from ..corpus import SMOKE_CORPUS, Corpus
from ..lexicon.vocab_digest import base_digest
from .analysis import VocabReport, open_tokenizer
from .run import plan_vocab

#: The paper's name -> what tokprobe analyses for it.
PAPER_TOKENIZERS: dict[str, str] = {"Qwen2.5": "qwen3", "DeepSeek-V3": "deepseek-v3", "Llama 3.1": "llama3.1"}
#: Base vocabulary sizes the paper reports.
PAPER_BASE: dict[str, int] = {"Qwen2.5": 151_643, "DeepSeek-V3": 128_000, "Llama 3.1": 128_000}
SYMBOL_RULE = ("base entries of class 'operator': after stripping surrounding whitespace non-empty and only ASCII "
               "punctuation/symbols (inner whitespace allowed)")


@dataclass
class PaperTables:
    counts: pd.DataFrame
    coverage: pd.DataFrame
    splits: pd.DataFrame
    vocab: pd.DataFrame
    corpus: pd.DataFrame
    report: VocabReport

    TABLES = ("counts", "coverage", "splits", "vocab", "corpus")

    def save(self, out_dir: str | os.PathLike[str], fmt: str = "csv") -> dict[str, Path]:
        out = Path(out_dir)
        written = {n: io.write_frame(getattr(self, n), out / f"{n}.{fmt}", fmt) for n in self.TABLES}
        written["provenance"] = io.write_json(out / "provenance.json", self.report.provenance.to_dict())
        return written


def decoded_texts(vocab: Any, ids: list[int]) -> list[str]:
    """Each id decoded alone: the tokenizer's decoder for tokenizer.json, else the token bytes (UTF-8, replace)."""
    own = getattr(vocab, "decode_each", None)
    if callable(own):
        out: list[str] = own(ids)
        return out
    tb = vocab.token_bytes
    return [tb[i].decode("utf-8", "replace") for i in ids]


def _vocab_row(name: str, vocab: Any, classes: pd.DataFrame) -> dict[str, Any]:
    base = classes[classes["base"]]
    ids = base["token_id"].tolist()
    texts = decoded_texts(vocab, ids)
    n_ws = sum(1 for t in texts if not t.strip())
    n_base = len(ids)
    n_sym = int((base["cls"] == "operator").sum())
    return {"tokenizer": name, "n_base": n_base, "whitespace_only": n_ws, "whitespace_share": n_ws / n_base,
            "whitespace_class": int((base["cls"] == "whitespace").sum()), "symbol_tokens": n_sym,
            "symbol_share": n_sym / n_base}


def paper_tables(
    tokenizers: dict[str, Any] | Sequence[Any] | None = None,
    *,
    corpus: Corpus | str | os.PathLike[str] | None = None,
    languages: str | list[str] | None = None,
    keyword_file: str | os.PathLike[str] | None = None,
    replace_keywords: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> PaperTables:
    """The paper's tables for ``tokenizers`` ({label: name/path/vocab}; default :data:`PAPER_TOKENIZERS`);
    ``keyword_file``/``replace_keywords`` as for :func:`tokprobe.vocab.plan_vocab`."""
    specs = dict(PAPER_TOKENIZERS if tokenizers is None else tokenizers) if isinstance(tokenizers, dict | None) \
        else {str(t): t for t in tokenizers}
    toks = [open_tokenizer(spec, label) for label, spec in specs.items()]
    run = plan_vocab(toks, languages=languages, corpus=corpus if corpus is not None else SMOKE_CORPUS,
                     keyword_file=keyword_file, replace_keywords=replace_keywords)
    report = run.run(progress=progress)
    info = {str(r["tokenizer"]): r for r in report.tokenizers.to_dict("records")}
    counts = pd.DataFrame([
        {"tokenizer": t.name, "source": t.info.get("path", ""), "n_vocab": int(info[t.name]["n_vocab"]),
         "n_base": int(info[t.name]["n_base"]), "n_added": int(info[t.name]["n_added"]),
         "paper_base": PAPER_BASE.get(t.name), "base_digest": base_digest(t.vocab)[:16]}
        for t in toks
    ])
    summ = report.coverage_summary
    cov = report.coverage_table()
    misses = summ.assign(n_missed=summ["n_keywords"] - summ["n_covered"]).pivot_table(
        index=["tokenizer", "language"], columns="form", values="n_missed", sort=False)
    misses.columns = [f"missed_{c}" for c in misses.columns]
    coverage = cov.merge(misses.reset_index(), on=["tokenizer", "language"], how="left")
    vocab_rows = [_vocab_row(t.name, t.vocab, report.classes[t.name]) for t in toks]
    corpus_df = report.corpus if report.corpus is not None else pd.DataFrame()
    cols = ["tokenizer", "language", "files", "n_bytes", "n_lines", "n_tokens", "bytes_per_token", "tokens_per_line"]
    return PaperTables(counts, coverage, report.splits(), pd.DataFrame(vocab_rows), corpus_df[cols], report)
