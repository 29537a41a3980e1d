"""Facts checked by hand on real tokenizers: the vocab-only GGUF files of the llama-cpp-python sdist.

A session fixture extracts them with tokprobe's own fetch code into a temporary cache. The sdist comes
from env TOKPROBE_SDIST, /tmp/sdist, the user cache (<cache>/sdist), or a pip download into the user
cache; when none works the tests are skipped with the reason.
"""

import json
import os
from pathlib import Path

import pytest

from tokprobe.vocab import fetch

pytestmark = pytest.mark.integration


def _find_or_download_sdist() -> tuple[Path | None, str]:
    for cand in (os.environ.get("TOKPROBE_SDIST"), "/tmp/sdist"):
        if cand:
            p = Path(cand)
            p = p / fetch.SDIST_FILENAME if p.is_dir() else p
            if p.is_file():
                return p, ""
    found = fetch.find_sdist()
    if found is not None:
        return found, ""
    try:
        return fetch.download_sdist(fetch.cache_root() / "sdist"), ""
    except Exception as exc:  # no network, no pip: skip with the reason
        return None, f"llama-cpp-python {fetch.SDIST_VERSION} sdist not available ({exc})"


@pytest.fixture(scope="session")
def vocab_files(tmp_path_factory):
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    sdist, why = _find_or_download_sdist()
    if sdist is None:
        pytest.skip(why)
    cache = tmp_path_factory.mktemp("cache") / "vocabs"
    paths = fetch.fetch_vocabs(sdist=sdist, cache_dir=cache)
    return {"cache": cache, **paths}


@pytest.fixture(scope="session")
def vocabs(vocab_files):
    from tokprobe import models

    out = {}
    for name in ("qwen2", "llama-bpe", "starcoder", "llama-spm", "gpt-2"):
        out[name] = models.load(vocab_files[name], vocab_only=True).vocab
    return out


def test_fetch_put_19_files_addressable_by_name(vocab_files):
    cache = vocab_files["cache"]
    names = [r["name"] for r in fetch.list_vocabs(cache)]
    assert len(names) == 19
    for n in ("qwen2", "llama-bpe", "llama-spm", "starcoder", "gpt-2", "deepseek-coder", "phi-3", "gemma-4"):
        assert n in names
        assert fetch.vocab_path(n, cache) == cache / f"ggml-vocab-{n}.gguf"
        assert (cache / f"ggml-vocab-{n}.gguf").read_bytes()[:4] == b"GGUF"


def test_qwen2_base_vocabulary(vocabs):
    from tokprobe.vocab import classify, composition

    v = vocabs["qwen2"]
    assert v.n_vocab == 151_936
    df = classify(v)
    assert int(df["base"].sum()) == 151_643  # the GGUF types, not llama.cpp's re-typing of '</s>'
    comp = composition(df).set_index("class")
    assert comp.loc["control", "n_tokens"] == 3  # <|endoftext|>, <|im_start|>, <|im_end|>
    assert comp.loc["unused", "n_tokens"] == 290  # [PAD151646] ...
    assert df.loc[151643, "cls"] == "control"


@pytest.mark.parametrize("name,bare,space", [("qwen2", 750, 707), ("llama-bpe", 755, 711), ("starcoder", 610, 684)])
def test_def_is_one_token_bare_and_space_prefixed(vocabs, name, bare, space):
    from tokprobe.vocab import keyword_tokens

    v = vocabs[name]
    assert v.tokenize("def", add_bos=False).tolist() == [bare]
    assert v.tokenize(" def", add_bos=False).tolist() == [space]
    df = keyword_tokens(v, {"python": ["def", "nonlocal"]}).set_index(["keyword", "form"])
    assert df.loc[("def", "bare"), "token_id"] == bare
    assert df.loc[("def", "space"), "token_id"] == space
    assert df.loc[("def", "newline"), "token_id"] == -1  # '\n' is its own pre-token in these BPEs
    assert df.loc[("def", "newline"), "n_pieces"] == 2
    assert df.loc[("nonlocal", "space"), "token_id"] == -1
    assert json.loads(df.loc[("nonlocal", "space"), "pieces"]) == [" non", "local"]


def test_sentencepiece_bare_form_without_the_automatic_space(vocabs):
    from tokprobe.vocab import keyword_tokens

    v = vocabs["llama-spm"]
    assert v.tokenize("def", add_bos=False).tolist() == [822]  # llama.cpp adds '▁': this is '▁def'
    df = keyword_tokens(v, {"python": ["def", "nonlocal"]}).set_index(["keyword", "form"])
    assert df.loc[("def", "bare"), "token_id"] == 1753 and v.pieces[1753] == "def"
    assert df.loc[("def", "bare"), "piece_ids"] == "1753" and df.loc[("def", "bare"), "clean"]
    assert df.loc[("def", "space"), "token_id"] == 822 and v.pieces[822] == "▁def"
    assert json.loads(df.loc[("nonlocal", "bare"), "pieces"]) == ["non", "local"]


def test_whitespace_runs_real(vocabs):
    from tokprobe.vocab import whitespace_runs

    q = whitespace_runs(vocabs["qwen2"], 8).set_index(["shape", "length"])
    assert q.loc[("spaces", 4), "token_id"] == 257
    assert q.loc[("tabs", 1), "token_id"] == 197
    assert q.loc[("newlines", 2), "token_id"] == 271
    g = whitespace_runs(vocabs["gpt-2"], 8).set_index(["shape", "length"])
    assert g.loc[("spaces", 1), "token_id"] == 220
    assert g.loc[("spaces", 4), "token_id"] == -1 and g.loc[("spaces", 4), "n_pieces"] == 4
    s = whitespace_runs(vocabs["llama-spm"], 8).set_index(["shape", "length"])
    assert s.loc[("tabs", 1), "token_id"] == -1  # Llama 2 has only the byte token <0x09>


def test_keyword_coverage_languages_real(vocabs):
    from tokprobe.vocab import coverage_summary, keyword_tokens, load_keywords

    kw = load_keywords()
    df = keyword_tokens(vocabs["starcoder"], kw)
    js = df[df.language == "javascript"]
    assert {"typeof", "function", "null"} <= set(js.keyword)
    assert "def" not in set(js.keyword)  # the paper's JS index bug
    s = coverage_summary(df).set_index(["language", "form"])
    assert s.loc[("python", "space"), "n_keywords"] == len(kw["python"])
    assert s.loc[("python", "space"), "coverage"] > 0.9
    php = df[(df.language == "php") & (df.keyword == "yield from")]
    assert (php.token_id == -1).all()


def test_corpus_stats_real(vocabs):
    from tokprobe.corpus import load_corpus
    from tokprobe.vocab import corpus_stats

    corpus = load_corpus()
    res = {n: corpus_stats(vocabs[n], corpus, top_n=10) for n in ("starcoder", "gpt-2")}
    sc = res["starcoder"].per_language.set_index("language")
    g2 = res["gpt-2"].per_language.set_index("language")
    assert 2.5 < sc.loc["ALL", "bytes_per_token"] < 6
    # a code tokenizer (indentation runs are tokens) packs more bytes per token than GPT-2
    assert sc.loc["python", "bytes_per_token"] > g2.loc["python", "bytes_per_token"]
    top = res["gpt-2"].top_tokens
    first = top[(top.language == "python") & (top["rank"] == 1)].iloc[0]
    assert first.token_id == 220 and first.text == " " and first.cls == "whitespace"
    ids = vocabs["starcoder"].tokenize(corpus.files[0].text, add_bos=False)
    pf = res["starcoder"].per_file
    assert pf.loc[0, "n_tokens"] == len(ids)


@pytest.mark.slow
def test_cli_done_criterion(vocab_files, tmp_path, capsys, monkeypatch):
    """`tokprobe vocab <tokenizers>` prints the coverage table and writes the heatmap."""
    from tokprobe.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["vocab", str(vocab_files["qwen2"]), str(vocab_files["llama-bpe"]), str(vocab_files["starcoder"]),
            "--format", "csv"]
    with pytest.raises(SystemExit) as e:
        main(args)
    cap = capsys.readouterr()
    assert e.value.code == 0, cap.err
    lines = cap.out.strip().splitlines()
    assert lines[0] == "tokenizer,language,n_keywords,bare,space,newline,any"
    assert len(lines) == 1 + 3 * 13
    assert {line.split(",")[0] for line in lines[1:]} == {"qwen2", "llama-bpe", "starcoder"}
    png = tmp_path / "vocab-coverage.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_vocab_by_short_name_from_the_cache(vocab_files, tmp_path, capsys, monkeypatch):
    from tokprobe.cli import main

    monkeypatch.setenv("TOKPROBE_CACHE", str(vocab_files["cache"].parent))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["vocab", "starcoder", "--show", "composition", "--no-heatmap", "-f", "json", "--out-dir", "run"])
    cap = capsys.readouterr()
    assert e.value.code == 0, cap.err
    comp = json.loads(cap.out)
    assert sum(r["n_tokens"] for r in comp) == 49_152
    assert not (tmp_path / "vocab-coverage.png").exists()
    assert (tmp_path / "run" / "coverage.png").is_file() and (tmp_path / "run" / "coverage.parquet").is_file()
    prov = json.loads((tmp_path / "run" / "provenance.json").read_text())
    assert prov["models"]["starcoder"]["n_vocab"] == 49_152


def test_cli_bad_input_exits_2(vocab_files, tmp_path, capsys):
    from tokprobe.cli import main

    bad = tmp_path / "kw.json"
    bad.write_text("{oops")
    for args, msg in [
        (["vocab", str(vocab_files["qwen2"]), "--keywords", str(bad)], "invalid JSON"),
        (["vocab", str(vocab_files["qwen2"]), "--languages", "python,cobol"], "unknown language"),
        (["vocab", str(vocab_files["qwen2"]), "--corpus", str(tmp_path / "empty")], "corpus path not found"),
        (["vocab", str(vocab_files["qwen2"]), "--show", "nope"], "unknown --show"),
        (["vocab", str(tmp_path / "missing.gguf")], "error:"),
    ]:
        with pytest.raises(SystemExit) as e:
            main(args + ["--no-heatmap"])
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2, args
        assert err[-1].startswith("error:") and msg in err[-1], err


@pytest.mark.slow
def test_gemma3_default_model_side_by_side(vocab_files, tmp_path):
    from tokprobe import models
    from tokprobe.vocab import analyze

    try:
        models.resolve("gemma3-270m")
    except Exception as exc:
        pytest.skip(f"gemma3-270m not installed: {exc}")
    rep = analyze(["gemma3-270m", vocab_files["qwen2"]], names=["gemma3-270m", "qwen2"], whitespace_max_run=4)
    info = rep.tokenizers.set_index("tokenizer")
    assert info.loc["gemma3-270m", "n_vocab"] == 262_144
    cov = rep.coverage_table().set_index(["tokenizer", "language"])
    assert cov.loc[("gemma3-270m", "python"), "space"] == 1.0
    assert rep.heatmap(tmp_path / "h.png").stat().st_size > 5000
