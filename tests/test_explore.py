"""The per-token explorer: its data against the compare result it reads, and the page in a real browser."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from tokprobe import io
from tokprobe.compare import compare
from tokprobe.explore import EXPLORER_FILE, explorer_data, write_explorer


@pytest.fixture(scope="module")
def run(tiny_model_path: Path, tiny_model_path_b: Path, small_corpus: Path,
        tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("explore")
    res = compare(tiny_model_path, [tiny_model_path_b], small_corpus, n_ctx=64, run_dir=d / "run",
                  cache_dir=d / "cache")
    res.save(d / "run")
    return SimpleNamespace(dir=d / "run", result=res)


def test_the_data_holds_every_scored_token_once_with_its_values(run: SimpleNamespace,
                                                                 small_code: dict[str, str]) -> None:
    data = explorer_data(run.dir)
    (g,) = data["groups"]
    tokens = run.result.tokens
    v = g["variants"][0]
    mine = tokens[tokens["variant"] == v]
    assert len(g["text"]) == len(mine) == sum(f["n"] for f in g["files"])
    assert [f["language"] for f in g["files"]] == ["python", "rust", "go"]
    by_pos = mine.set_index("position")
    order = mine.sort_values("position")  # the files are in corpus order here, so position order is file order
    kl = g["values"][v]["kl"]
    for i, (pos, r) in enumerate(order.set_index("position").iterrows()):
        assert g["strings"][g["text"][i]] == r["text"]
        assert math.isclose(kl[i], float(by_pos.loc[pos, "kl"]), rel_tol=1e-3, abs_tol=1e-9)
        assert g["classes"][g["cls"][i]] == r["class"] and g["line"][i] == r["line"]
    # each file's tokens rebuild its text after the first token (nothing predicts a file's first token
    # without BOS: the page marks that gap)
    for f in g["files"]:
        text = "".join(g["strings"][g["text"][i]] for i in range(f["start"], f["start"] + f["n"]))
        original = small_code[Path(f["path"]).name]
        assert original.endswith(text) and len(original) - len(text) <= 8
        assert g["gap"][f["start"]] == 1 and sum(g["gap"][f["start"] + 1:f["start"] + f["n"]]) == 0
    ranked = g["values"][v]["ranked"]["kl"]
    assert np.all(np.diff([kl[i] for i in ranked]) <= 0) and ranked[0] == int(np.argmax(kl))
    # both models' top-5 next tokens: the reference's first is its argmax, probabilities in descending order
    first = order.reset_index(drop=True)
    for i in (0, len(first) // 2, len(first) - 1):
        texts, probs = g["top_ref"][i]
        assert g["strings"][texts[0]] == first.loc[i, "argmax_ref_text"] and probs == sorted(probs, reverse=True)
        vtexts, _ = g["values"][v]["top_var"][i]
        assert g["strings"][vtexts[0]] == first.loc[i, "argmax_var_text"] and len(vtexts) == 5
    dp = g["values"][v]["dp"]
    assert dp[g["values"][v]["ranked"]["dp"][0]] == min(dp)  # Δp: the largest loss first


def test_the_page_is_self_contained(run: SimpleNamespace, tmp_path: Path) -> None:
    out = write_explorer(run.dir, tmp_path / "page.html", title="t <&>")
    html = out.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html and "<title>t &lt;&amp;&gt;</title>" in html
    blob = html.split("<script id='data' type='application/json'>", 1)[1].split("</script>", 1)[0]
    assert json.loads(blob)["groups"][0]["variants"] == run.result.variants


def test_cli_writes_the_page_and_rejects_what_is_not_a_run(run: SimpleNamespace, tmp_path: Path, cli: Any,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run.dir, copy)
    assert cli(["explore", str(copy)]) == 0
    assert (copy / EXPLORER_FILE).stat().st_size > 1000
    for bad in (tmp_path / "missing", tmp_path):
        assert cli(["explore", str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err
    io.write_frame(io.read_frame(copy / "tokens.parquet").iloc[:0], copy / "tokens.parquet")
    assert cli(["explore", str(copy)]) == 2
    assert "no rows" in capsys.readouterr().err
