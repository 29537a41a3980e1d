"""compare and coldstart record each model's base-vocabulary digest, the one a tokenizer.json of the same
vocabulary has (tokprobe.lexicon.vocab_digest), so a GGUF model can be matched with a tokenizer.json."""

from __future__ import annotations

from pathlib import Path

from tokprobe.coldstart import coldstart
from tokprobe.compare import compare
from tokprobe.lexicon.vocab_digest import base_digest
from tokprobe.models import load


def test_compare_and_coldstart_record_the_base_digest(tiny_model_path: Path, tiny_model_path_b: Path,
                                                      small_corpus: Path, tmp_path: Path) -> None:
    with load(tiny_model_path, vocab_only=True) as m:
        want = base_digest(m.vocab)
    r = compare(tiny_model_path, [tiny_model_path_b], small_corpus, n_ctx=64, run_dir=tmp_path / "r",
                cache_dir=tmp_path / "c")
    digests = {k: v["base_vocab_digest"] for k, v in r.provenance.models.items()}
    assert set(digests.values()) == {want} and len(digests) == 2
    cs = coldstart([tiny_model_path, tiny_model_path_b])
    assert cs.summary["base_vocab_digest"].tolist() == [want, want]
