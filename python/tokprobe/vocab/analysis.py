"""Whole vocabulary study of one or many tokenizers side by side (the ``tokprobe vocab`` command).

``analyze(["gemma3-270m", "qwen2", "llama-bpe", "starcoder"])`` returns a :class:`VocabReport` of
DataFrames, every one with a ``tokenizer`` column and keyed by token id where tokens appear:
composition by class, keyword coverage (all forms, with splits), operator coverage, whitespace runs,
and — with a corpus — bytes/tokens per language and token histograms.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from .. import io
from ..corpus import Corpus
from ..errors import InputError
from ..provenance import Provenance
from .classes import TOKEN_CLASSES, classify, composition, keyword_token_counts, whitespace_lengths
from .corpus_stats import corpus_stats
from .coverage import FORMS, coverage_summary, coverage_wide, keyword_tokens, split_text
from .keywords import english_lexicon, keyword_sources, load_keywords, load_operators

DEFAULT_TOKENIZERS = ("gemma3-270m",)
WS_MAX_RUN = 32


@dataclass
class Tokenizer:
    """A vocabulary with the name it is shown under and what it was loaded from."""

    name: str
    vocab: Any
    info: dict = field(default_factory=dict)
    handle: Any = None  # the loaded model, kept alive while the vocab is used

    def close(self) -> None:
        h, self.handle = self.handle, None
        if h is not None and hasattr(h, "close"):
            h.close()


def resolve_tokenizer(name: str | os.PathLike) -> Path:
    """A GGUF path for ``name``: an existing path, a fetched vocab ('qwen2'), or models.resolve()."""
    from .fetch import vocab_path

    p = Path(name).expanduser()
    if p.is_file():
        return p
    vp = vocab_path(str(name))
    if vp is not None:
        return vp
    from .. import models

    return Path(models.resolve(str(name)))


def open_tokenizer(spec: Any, name: str | None = None) -> Tokenizer:
    """A :class:`Tokenizer` from a name/path (loaded vocab-only), a Model, or a Vocab-like object."""
    if isinstance(spec, Tokenizer):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        path = resolve_tokenizer(spec)
        from .. import models

        model = models.load(path, vocab_only=True)
        info = {"path": str(path)}
        try:
            info.update({k: v for k, v in model.info.to_dict().items() if k in ("sha256", "vocab_type", "pre_tokenizer", "arch", "n_vocab")})
        except Exception:  # info is a convenience here; the vocab is what matters
            pass
        label = name or (str(spec) if not Path(spec).is_file() else Path(spec).stem.replace("ggml-vocab-", ""))
        return Tokenizer(label, model.vocab, info, model)
    vocab = getattr(spec, "vocab", spec)
    label = name or getattr(spec, "name", None) or getattr(vocab, "name", None) or f"vocab{getattr(vocab, 'n_vocab', '')}"
    return Tokenizer(str(label), vocab, {"path": str(getattr(spec, "path", ""))})


def _unique_names(toks: list[Tokenizer]) -> None:
    seen: dict[str, int] = {}
    for t in toks:
        if t.name in seen:
            seen[t.name] += 1
            t.name = f"{t.name}#{seen[t.name]}"
        else:
            seen[t.name] = 1


def whitespace_runs(vocab: Any, max_run: int = WS_MAX_RUN, *, split: bool = True) -> pd.DataFrame:
    """Which runs of spaces, tabs, newlines (and newline + indentation) are ONE vocabulary token.

    Columns: shape, length (run length: spaces/tabs after the newline for newline+...), text (escaped),
    token_id (-1: none), n_pieces (how the tokenizer splits the run where it occurs).
    """
    from .coverage import bytes_index

    idx = bytes_index(vocab)
    rows = []
    shapes = {
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
            ids = idx.get(text.encode(), [])
            n_pieces = len(split_text(vocab, text)[0]) if split else (1 if ids else 0)
            rows.append((shape, n, text.encode("unicode_escape").decode("ascii"), ids[0] if ids else -1, n_pieces))
    return pd.DataFrame(rows, columns=["shape", "length", "text", "token_id", "n_pieces"])


def whitespace_summary(runs: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Per shape: how many run lengths are single tokens and the longest run that is one."""
    g = runs.assign(single=runs["token_id"] >= 0).groupby([*by, "shape"], sort=False)
    out = g.agg(n_single=("single", "sum"), checked=("length", "max"))
    out["max_single_run"] = g.apply(lambda d: int(d.loc[d["token_id"] >= 0, "length"].max()) if (d["token_id"] >= 0).any() else 0, include_groups=False)
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
              "operator_summary", "whitespace", "whitespace_summary", "whitespace_tokens", "corpus", "corpus_files", "top_tokens",
              "class_counts")

    def coverage_table(self) -> pd.DataFrame:
        """tokenizer, language, n_keywords and coverage per form (bare, space, newline, any)."""
        return coverage_wide(self.coverage_summary)

    def splits(self, form: str | None = None) -> pd.DataFrame:
        """Keywords that are not one token, with how the tokenizer splits them."""
        df = self.coverage[self.coverage["token_id"] < 0]
        if form is not None:
            df = df[df["form"] == form]
        return df[["tokenizer", "language", "keyword", "form", "n_pieces", "pieces", "piece_ids", "clean"]].reset_index(drop=True)

    def table(self, name: str) -> pd.DataFrame:
        if name == "coverage_table":
            return self.coverage_table()
        if name == "splits":
            return self.splits()
        df = getattr(self, name, None) if name in self.TABLES else None
        if df is None:
            raise InputError(f"no table {name!r} in this report")
        return df

    def heatmap(self, path: str | os.PathLike, form: str = "any", title: str | None = None) -> Path:
        from .plot import plot_coverage_heatmap

        return plot_coverage_heatmap(self.coverage_summary, path, form=form, title=title)

    def save(self, out_dir: str | os.PathLike, fmt: str = "parquet", heatmap_form: str = "any") -> dict[str, Path]:
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
    forms = list(forms)
    toks: list[Tokenizer] = []
    try:
        for i, spec in enumerate(tokenizers):
            toks.append(open_tokenizer(spec, names[i] if names else None))
        _unique_names(toks)
        steps = len(toks) * (2 if corpus is None else 3)
        done = 0
        parts: dict[str, list[pd.DataFrame]] = {k: [] for k in VocabReport.TABLES}
        classes: dict[str, pd.DataFrame] = {}
        corpus_settings: dict[str, Any] = {}
        info_rows = []
        for t in toks:
            v = t.vocab
            cls = classify(v, keywords)
            classes[t.name] = cls
            info_rows.append({
                "tokenizer": t.name, "n_vocab": int(v.n_vocab), "n_base": int(cls["base"].sum()),
                "n_added": int((~cls["base"]).sum()), "type": str(getattr(v, "type", "")),
                "pre": str(getattr(v, "pre", "") or ""), "digest": str(getattr(v, "digest", "")),
                "path": t.info.get("path", ""), "sha256": t.info.get("sha256", ""),
            })
            parts["composition"].append(composition(cls).assign(tokenizer=t.name))
            parts["keyword_classes"].append(keyword_token_counts(cls, list(keywords)).assign(tokenizer=t.name))
            parts["whitespace_tokens"].append(whitespace_lengths(cls).assign(tokenizer=t.name))
            done += 1
            if progress:
                progress(done, steps)
            kw = keyword_tokens(v, keywords, forms).assign(tokenizer=t.name)
            parts["coverage"].append(kw)
            op = keyword_tokens(v, operators, ("bare", "space")).rename(columns={"keyword": "operator"}).assign(tokenizer=t.name)
            parts["operators"].append(op)
            parts["whitespace"].append(whitespace_runs(v, whitespace_max_run).assign(tokenizer=t.name))
            done += 1
            if progress:
                progress(done, steps)
            if corpus is not None:
                cs = corpus_stats(v, corpus, keywords=keywords, top_n=top_n)
                corpus_settings[t.name] = cs.settings
                parts["corpus"].append(cs.per_language.assign(tokenizer=t.name))
                parts["corpus_files"].append(cs.per_file.assign(tokenizer=t.name))
                parts["top_tokens"].append(cs.top_tokens.assign(tokenizer=t.name))
                parts["class_counts"].append(cs.class_counts.assign(tokenizer=t.name))
                done += 1
                if progress:
                    progress(done, steps)

        def cat(name: str) -> pd.DataFrame | None:
            if not parts[name]:
                return None
            df = pd.concat(parts[name], ignore_index=True)
            return df[["tokenizer", *[c for c in df.columns if c != "tokenizer"]]]

        coverage = cat("coverage")
        ops = cat("operators")
        whitespace = cat("whitespace")
        cov_sum = coverage_summary(coverage, by=("tokenizer",))
        op_sum = coverage_summary(ops.rename(columns={"operator": "keyword"}), by=("tokenizer",))
        prov = Provenance(
            settings={
                "analysis": "vocab",
                **(settings or {}),
                "forms": forms,
                "token_classes": list(TOKEN_CLASSES),
                "class_rules": "tokprobe.vocab.classes docstring; GGUF file token types; English lexicon = SCOWL "
                f"american-english ({len(english_lexicon()):,} words)",
                "keyword_languages": {l: len(v) for l, v in keywords.items()},
                "keyword_sources": {l: s["source"] for l, s in keyword_sources().items() if l in keywords},
                "whitespace_max_run": whitespace_max_run,
                "top_n": top_n,
                "corpus": None if corpus is None else {"root": str(corpus.root), "digest": corpus.digest,
                                                       "files": len(corpus.files), "skipped": corpus.skipped},
                "corpus_stats": corpus_settings,
            },
            models={r["tokenizer"]: {k: r[k] for k in ("path", "sha256", "digest", "n_vocab", "type", "pre")} for r in info_rows},
        )
        return VocabReport(
            tokenizers=pd.DataFrame(info_rows),
            composition=cat("composition"),
            keyword_classes=cat("keyword_classes"),
            coverage=coverage,
            coverage_summary=cov_sum,
            operators=ops,
            operator_summary=op_sum,
            whitespace=whitespace,
            whitespace_summary=whitespace_summary(whitespace, by=("tokenizer",)),
            whitespace_tokens=cat("whitespace_tokens"),
            classes=classes,
            corpus=cat("corpus"),
            corpus_files=cat("corpus_files"),
            top_tokens=cat("top_tokens"),
            class_counts=cat("class_counts"),
            provenance=prov,
        )
    finally:
        for t in toks:
            t.handle = None  # the report holds DataFrames only; loaded vocab-only models can be freed
