"""GGUF <-> Hugging Face conversion for the variants pipeline.

- GGUF -> HF: ``transformers`` loads a GGUF (dequantized to float32); the model is rebuilt from its
  config without the GGUF ``quantization_config`` so that it can be trained and saved.
- HF -> GGUF: llama.cpp's own ``convert_hf_to_gguf.py`` from the pinned llama-cpp-python sdist
  (``vendor/llama.cpp``: the script, its ``conversion/`` package and ``gguf-py``), extracted once into
  ``<cache>/variants/tools/llama.cpp-<version>/`` and run in a subprocess.

The round trip GGUF -> HF -> GGUF (F16) is lossless for F16 sources (logits identical).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tarfile
from io import StringIO
from pathlib import Path
from typing import Any

from .. import io
from ..cache import sdist_dir
from ..errors import Error, FileFormatError, VocabMismatchError
from ..models import validate_gguf
from ..models.sdist import SDIST_FILENAME, SDIST_VERSION, download_sdist, find_sdist

_VENDOR = "vendor/llama.cpp/"
_TOOL_MEMBERS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                    "tokenizer.model", "vocab.json", "merges.txt", "generation_config.json")


class MissingTrainDeps(Error):
    """torch / transformers (the ``train`` extra) are not installed."""


def require_train() -> tuple[Any, Any]:
    """(torch, transformers), or a one-line error saying how to install them."""
    missing = []
    mods: dict[str, Any] = {}
    for name in ("torch", "transformers", "safetensors", "accelerate"):
        try:
            mods[name] = __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingTrainDeps(f"making variants needs {', '.join(missing)}: pip install \"tokprobe[train]\" "
                               "(CPU torch 2.13.0, transformers, safetensors, accelerate, sentencepiece)")
    return mods["torch"], mods["transformers"]


# -- llama.cpp converter --------------------------------------------------------------------------
def locate_sdist(sdist: str | os.PathLike[str] | None = None, *, download: bool = True) -> Path:
    """The llama-cpp-python sdist: ``sdist`` if given, else the one ``tokprobe vocabs fetch`` uses
    (env ``TOKPROBE_SDIST``, ``<cache>/sdist/``), else downloaded there with pip."""
    if sdist is not None:
        p = Path(sdist).expanduser()
        p = p / SDIST_FILENAME if p.is_dir() else p
        if not p.is_file():
            raise FileFormatError(f"{p}: no such sdist file")
        return p
    found = find_sdist()
    if found is not None:
        return found
    if not download:
        raise FileFormatError(f"no {SDIST_FILENAME} found (set TOKPROBE_SDIST or put it in {sdist_dir()})")
    return download_sdist(sdist_dir())


def converter_dir(tools_root: Path, sdist: str | os.PathLike[str] | None = None) -> Path:
    """``<tools_root>/llama.cpp-<version>/`` holding ``convert_hf_to_gguf.py``, extracted once."""
    dest = tools_root / f"llama.cpp-{SDIST_VERSION}"
    marker = dest / ".complete"
    if marker.is_file() and (dest / "convert_hf_to_gguf.py").is_file():
        return dest
    src = locate_sdist(sdist)
    tmp = tools_root / f".llama.cpp-{SDIST_VERSION}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    n = 0
    try:
        with tarfile.open(src, mode="r|gz") as tar:
            for m in tar:
                i = m.name.find(_VENDOR)
                if i < 0 or not (m.isfile() or m.isdir()):
                    continue
                rel = m.name[i + len(_VENDOR):]
                if not rel or not any(rel == t or rel.startswith(t) for t in _TOOL_MEMBERS):
                    continue
                if ".." in Path(rel).parts:
                    continue
                out = tmp / rel
                if m.isdir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                f = tar.extractfile(m)
                if f is not None:
                    out.write_bytes(f.read())
                    n += 1
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FileFormatError(f"{src}: not a readable llama-cpp-python sdist ({exc})") from None
    if not (tmp / "convert_hf_to_gguf.py").is_file() or not (tmp / "gguf-py").is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
        raise FileFormatError(f"{src}: no vendor/llama.cpp/convert_hf_to_gguf.py with gguf-py inside")
    (tmp / ".complete").write_text(f"{src.name}\n{n} files\n")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return dest


def hf_to_gguf(hf_dir: Path, out: Path, *, tool: Path, outtype: str = "f16", model_name: str | None = None,
               timeout: float = 3600) -> Path:
    """Run ``convert_hf_to_gguf.py`` on ``hf_dir`` into ``out`` (atomically; validated before publishing)."""
    env = dict(os.environ)
    env.pop("NO_LOCAL_GGUF", None)  # the script then puts its own gguf-py first on sys.path
    env["PYTHONPATH"] = str(tool / "gguf-py") + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with io.atomic_path(out) as tmp:
        cmd = [sys.executable, str(tool / "convert_hf_to_gguf.py"), str(hf_dir), "--outfile", str(tmp),
               "--outtype", outtype]
        if model_name:
            cmd += ["--model-name", model_name]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(tool))
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Error(f"convert_hf_to_gguf.py could not run on {hf_dir}: {exc}") from None
        if res.returncode != 0:
            lines = [ln for ln in (res.stderr or res.stdout or "").strip().splitlines() if ln.strip()]
            raise Error(f"convert_hf_to_gguf.py failed on {hf_dir} (exit {res.returncode}): "
                        f"{lines[-1] if lines else 'no output'}")
        validate_gguf(tmp)
    return out


def check_same_vocab(a: Path, b: Path) -> None:
    """Raise unless two GGUFs carry the same tokenizer (tokens, merges, pre-tokenizer, special ids)."""
    ha, hb = validate_gguf(a), validate_gguf(b)
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.merges",
                "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"):
        va, vb = ha.kv.get(key), hb.kv.get(key)
        if va is None and vb is None:
            continue
        if _plain(va) != _plain(vb):
            raise VocabMismatchError(f"{b.name}: {key} differs from {a.name} after conversion")


def _plain(v: Any) -> Any:
    if hasattr(v, "tolist"):
        return v.tolist()
    return list(v) if isinstance(v, (list, tuple)) else v


# -- GGUF -> HF -----------------------------------------------------------------------------------
def gguf_to_hf(src: Path, out_dir: Path) -> dict[str, Any]:
    """Dequantize a GGUF into a float32 HF model directory (weights, config, tokenizer); returns the config."""
    torch, transformers = require_train()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = Path(src).resolve()
    # transformers' GGUF reader draws its own tqdm bar on stderr; callers get progress from us instead.
    with contextlib.redirect_stderr(StringIO()):
        m = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name, dtype=torch.float32)
    cfg = m.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    model.load_state_dict(m.state_dict(), strict=True)
    if getattr(cfg, "tie_word_embeddings", False):
        model.tie_weights()
    tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    out: dict[str, Any] = cfg.to_dict()
    return out


def copy_tokenizer(src_dir: Path, dst_dir: Path) -> None:
    for name in _TOKENIZER_FILES:
        if (src_dir / name).is_file():
            shutil.copy2(src_dir / name, dst_dir / name)


def save_hf(model: Any, tokenizer_dir: Path, out_dir: Path) -> None:
    """Save a trained model plus the base tokenizer files into ``out_dir`` (atomically by rename)."""
    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    copy_tokenizer(tokenizer_dir, tmp)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
