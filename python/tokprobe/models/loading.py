"""Names and paths to loaded models: :func:`load` and :func:`model_info`."""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

from .. import provenance
from ..errors import FileFormatError, InputError
from . import _llama
from .gguf_file import GGUFHeader, validate_gguf
from .info import ModelInfo
from .model import Model
from .registry import DEFAULT_MODEL, MODELS, canonical_name, resolve
from .vocab import ModelHandle


def display_name(name_or_path: str | os.PathLike[str], path: Path) -> str:
    """The name a loaded model is shown under: a named model's name however it was given, else the
    name as given (a registered or vocab name) or the file's stem (a path)."""
    for spec in MODELS.values():  # a named model's file keeps its name, however it was given
        if path.name == spec.filename:
            return spec.name
    if isinstance(name_or_path, str) and not Path(name_or_path).expanduser().exists():
        return canonical_name(name_or_path) if canonical_name(name_or_path) in MODELS else name_or_path
    return path.stem


# Parsed headers of the files currently open, shared by their loads: a vocab-only handle and the full
# model of one file (as every analysis opens them) would otherwise each hold the header's token table
# (~26 MiB of Python strings for a 262k vocabulary) and parse it again.
_HEADERS: weakref.WeakValueDictionary[tuple[str, int, int, int], GGUFHeader] = weakref.WeakValueDictionary()


def shared_header(path: Path) -> GGUFHeader:
    """:func:`validate_gguf` of ``path``, reused while a model of the same unchanged file is open."""
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        return validate_gguf(path)  # reports the problem in one line
    header = _HEADERS.get(key)
    if header is None:
        header = validate_gguf(path)
        _HEADERS[key] = header
    return header


def _load_model_ptr(path: Path, vocab_only: bool) -> Any:
    """``llama_model_load_from_file`` on the CPU; a FileFormatError with llama.cpp's reason when it fails."""
    lib = _llama.lib()
    mp = lib.llama_model_default_params()
    mp.vocab_only = bool(vocab_only)
    mp.n_gpu_layers = 0
    _llama.clear_errors()
    model = lib.llama_model_load_from_file(os.fsencode(str(path)), mp)
    if not model:
        raise FileFormatError(f"{path}: llama.cpp could not load this GGUF file: "
                              f"{_llama.last_error('unsupported architecture or tensors')}")
    return model


def load_handle(path: Path, vocab_only: bool) -> ModelHandle:
    """The :class:`ModelHandle` of a load of ``path`` (a vocab-only one can be reopened after a borrow)."""
    reopen = (lambda: _load_model_ptr(path, True)) if vocab_only else None
    return ModelHandle(_llama.lib(), _load_model_ptr(path, vocab_only), path, reopen=reopen)


def load(name_or_path: str | os.PathLike[str] | None = None, *, threads: int | None = None, n_ctx: int = 2048,
         n_batch: int = 512, vocab_only: bool = False, seed: int = 0, flash_attn: bool = False) -> Model:
    """Open a model by name ('gemma3-270m', 'smollm2-135m', 'gemma3-270m-Q4_0', vocab names) or path.

    The GGUF header is validated in Python first (:func:`validate_gguf`). ``threads`` defaults to the
    available cores; ``n_ctx``/``n_batch`` size the context (n_ubatch = n_batch, so a batch is decoded
    in one pass); ``vocab_only`` loads the tokenizer only; ``seed`` is the default sampling seed;
    ``flash_attn`` (off by default) makes logits depend on the batch size on CPU: see Model.
    """
    if threads is None:
        threads = provenance.available_cores()
    if int(threads) < 1:
        raise InputError(f"threads must be at least 1, got {threads}")
    if int(n_ctx) < 2:
        raise InputError(f"n_ctx must be at least 2, got {n_ctx}")
    if int(n_batch) < 1:
        raise InputError(f"n_batch must be at least 1, got {n_batch}")
    path = resolve(name_or_path)
    header = shared_header(path)
    handle = load_handle(path, vocab_only)
    name = display_name(name_or_path if name_or_path is not None else DEFAULT_MODEL, path)
    return Model(path, name, header, handle, threads=int(threads), n_ctx=int(n_ctx),
                 n_batch=min(int(n_batch), int(n_ctx)), seed=int(seed), vocab_only=vocab_only,
                 flash_attn=bool(flash_attn))


def model_info(name_or_path: str | os.PathLike[str] | None = None) -> ModelInfo:
    """Metadata of a model without loading its weights (header + a vocab-only load)."""
    with load(name_or_path, vocab_only=True, threads=1) as m:
        return m.info
