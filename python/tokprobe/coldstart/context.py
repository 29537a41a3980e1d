"""The cold-start context: which tokens the model sees before the position we read.

docs/method.md §2 defines P_cold as the distribution at the first generated position "with no
prompt", but which start token stands for "no prompt" is ambiguous (some GGUFs have
``add_bos = false``, some BOS ids are chat tokens). So the context is an explicit option,
and the mode and the exact token ids are recorded in every result.

Modes (the ``context`` argument / ``--context`` option):

``auto`` (the default)
    ``bos`` when the vocabulary has a BOS token *and* adds it to every prompt
    (``add_bos = true``: the model saw that token at the start of every document, e.g.
    Gemma's ``<bos>``, Llama 3's ``<|begin_of_text|>``); otherwise ``endoftext`` when the
    vocabulary has that document separator; otherwise ``eos``. Example: SmolLM2-Instruct does not
    add BOS, its BOS id 1 is the chat token ``<|im_start|>`` and its GGUF EOS id 2 is the chat
    token ``<|im_end|>``, so ``auto`` gives ``<|endoftext|>`` (id 0), the separator between
    pre-training documents. A vocabulary with none of these is an error. The resolved mode is
    recorded as ``auto:bos`` / ``auto:endoftext`` / ``auto:eos``.
``bos``
    the single BOS token, whatever ``add_bos`` says.
``eos``
    the single EOS token of the GGUF ("document start": what a model sees after the previous
    document, for base models whose EOS is the end-of-text token).
``endoftext``
    the single ``<|endoftext|>`` (or ``<|end_of_text|>``) token: the document separator of the
    GPT-2 convention (SmolLM2, Qwen2, StarCoder, GPT-NeoX, ...), even where the GGUF's EOS is an
    end-of-turn chat token. An error when the vocabulary has no such token.
``chat``
    the GGUF's chat template rendered with one empty user turn and the generation prompt
    (``Model.chat_prompt("")``), tokenized with special tokens parsed; BOS is prepended when
    the vocabulary adds BOS and the rendered text does not already start with it. A GGUF
    without a chat template is an error.
``text:STRING``
    STRING tokenized as a prompt: special tokens parsed (as llama.cpp does for prompts) and
    BOS added when the vocabulary adds BOS. STRING is taken literally (use ``$'...'`` in a
    shell for newlines, or ``ids:`` for full control).
``ids:N,N,...``
    these token ids, exactly (commas or spaces between them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError

MODES = ("auto", "bos", "eos", "endoftext", "chat", "text", "ids")
ENDOFTEXT_PIECES = ("<|endoftext|>", "<|end_of_text|>")
DEFAULT_CONTEXT = "auto"

CONTEXT_HELP = (
    "Context before the cold-start position: auto (default: bos when the vocabulary has a BOS and adds it "
    "to prompts, else endoftext when it has that document separator, else eos), bos, eos (the GGUF's EOS: "
    "document start), endoftext (the <|endoftext|> document separator), chat (the GGUF chat template with an "
    "empty user "
    "turn and the generation prompt), text:STRING (tokenized as a prompt, special tokens parsed, BOS "
    "added when the vocabulary adds it) or ids:N,N,... (exact token ids). The resolved mode and the exact "
    "ids are recorded in every result."
)


@dataclass(frozen=True)
class ContextSpec:
    """A parsed ``--context`` value: a mode and, for ``text``/``ids``, its argument."""

    mode: str
    text: str | None = None
    ids: tuple[int, ...] | None = None

    @property
    def spec(self) -> str:
        if self.mode == "text":
            return f"text:{self.text}"
        if self.mode == "ids":
            return "ids:" + ",".join(str(i) for i in self.ids or ())
        return self.mode


@dataclass(frozen=True)
class ResolvedContext:
    """The context actually fed to one model: resolved mode, exact ids and how they render."""

    requested: str
    mode: str  # bos, eos, endoftext, chat, text, ids (the resolved mode; auto becomes bos/endoftext/eos)
    ids: tuple[int, ...]
    text: str  # the ids rendered with special tokens shown, for humans
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``auto:bos`` when resolved from auto, else the mode."""
        return f"auto:{self.mode}" if self.requested == "auto" else self.mode

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "mode": self.mode,
            "label": self.label,
            "ids": list(self.ids),
            "text": self.text,
            "note": self.note,
        }


def parse_context(spec: str | ContextSpec | None) -> ContextSpec:
    """Parse a context option (see the module docstring); raises InputError on a bad value."""
    if isinstance(spec, ContextSpec):
        return spec
    if spec is None:
        spec = DEFAULT_CONTEXT
    if not isinstance(spec, str):
        raise InputError(f"context must be a string such as 'bos' or 'ids:2', not {type(spec).__name__}")
    head, sep, rest = spec.partition(":")
    mode = head.strip().lower()
    if mode == "text" and sep:
        if rest == "":
            raise InputError("context 'text:' needs a non-empty string after the colon")
        return ContextSpec("text", text=rest)
    if mode == "ids" and sep:
        parts = [p for p in re.split(r"[,\s]+", rest.strip()) if p]
        if not parts:
            raise InputError("context 'ids:' needs at least one token id, e.g. ids:2 or ids:2,106")
        try:
            ids = tuple(int(p) for p in parts)
        except ValueError:
            raise InputError(f"context {spec!r}: token ids must be integers separated by commas") from None
        return ContextSpec("ids", ids=ids)
    if sep or mode not in ("auto", "bos", "eos", "endoftext", "chat"):
        raise InputError(
            f"unknown context {spec!r}; use auto, bos, eos, endoftext, chat, text:STRING or ids:N,N,..."
        )
    return ContextSpec(mode)


def _valid_id(vocab: Any, tid: Any) -> bool:
    return tid is not None and 0 <= int(tid) < int(vocab.n_vocab)


def endoftext_id(vocab: Any) -> int | None:
    """Id of the ``<|endoftext|>`` / ``<|end_of_text|>`` token, or None (lowest id if several)."""
    pieces = getattr(vocab, "pieces", None)
    if pieces is None:
        return None
    for name in ENDOFTEXT_PIECES:
        for i, p in enumerate(pieces):
            if p == name:
                return i
    return None


def auto_mode(vocab: Any) -> tuple[str, str]:
    """The mode ``auto`` resolves to for this vocabulary, and why."""
    bos, eos = getattr(vocab, "bos_id", None), getattr(vocab, "eos_id", None)
    if _valid_id(vocab, bos) and bool(getattr(vocab, "add_bos", False)):
        return "bos", "the vocabulary adds BOS to every prompt"
    why = "the vocabulary does not add BOS" if _valid_id(vocab, bos) else "the vocabulary has no BOS"
    if endoftext_id(vocab) is not None:
        return "endoftext", f"{why}; its end-of-text token separates documents"
    if _valid_id(vocab, eos):
        return "eos", f"{why}; EOS (end of text) starts a document"
    if _valid_id(vocab, bos):
        return "bos", "the vocabulary has no EOS; its BOS is used"
    raise InputError("context auto: the vocabulary has neither a BOS nor an EOS token; use --context ids:N")


def render_ids(vocab: Any, ids: tuple[int, ...]) -> str:
    """Human rendering of context ids, control tokens as their text (``<bos>``)."""
    piece = getattr(vocab, "token_to_piece", None)
    out = []
    for i in ids:
        if piece is not None:
            b = piece(int(i), special=True)  # one call per id: no full-table pass
        else:
            b = vocab.token_bytes[i]
        if not b and getattr(vocab, "pieces", None) is not None:
            out.append(str(vocab.pieces[i]))
        else:
            out.append(bytes(b).decode("utf-8", errors="replace"))
    return "".join(out)


def resolve_context(model: Any, context: str | ContextSpec | None = None) -> ResolvedContext:
    """Resolve a context option to exact token ids for ``model`` (a Model; ``bos``/``eos``/``ids``
    and ``text`` also work on a bare Vocab)."""
    spec = parse_context(context)
    vocab = getattr(model, "vocab", model)
    mode = spec.mode
    note = ""
    if mode == "auto":
        mode, note = auto_mode(vocab)
    if mode == "bos":
        if not _valid_id(vocab, vocab.bos_id):
            raise InputError("context bos: this vocabulary has no BOS token; use --context eos or ids:N")
        ids: tuple[int, ...] = (int(vocab.bos_id),)
    elif mode == "eos":
        if not _valid_id(vocab, vocab.eos_id):
            raise InputError("context eos: this vocabulary has no EOS token; use --context bos or ids:N")
        ids = (int(vocab.eos_id),)
    elif mode == "endoftext":
        tid = endoftext_id(vocab)
        if tid is None:
            raise InputError(
                "context endoftext: this vocabulary has no <|endoftext|> token; use --context eos or ids:N"
            )
        ids = (int(tid),)
    elif mode == "ids":
        bad = [i for i in spec.ids or () if not _valid_id(vocab, i)]
        if bad:
            raise InputError(f"context ids: token id {bad[0]} is outside the vocabulary (0..{vocab.n_vocab - 1})")
        ids = tuple(int(i) for i in spec.ids or ())
    elif mode == "text":
        add_bos = bool(getattr(vocab, "add_bos", False))
        ids = tuple(int(i) for i in model.tokenize(spec.text, add_bos=add_bos, special=True))
        note = "tokenized as a prompt (special tokens parsed" + (", BOS added)" if add_bos else ")")
    elif mode == "chat":
        render = getattr(model, "chat_prompt", None)
        prompt = render("") if render is not None else None
        if not prompt:
            name = getattr(model, "name", "this model")
            raise InputError(f"context chat: {name} has no chat template in its GGUF; use --context bos, eos or text:")
        ids = tuple(int(i) for i in model.tokenize(prompt, add_bos=False, special=True))
        if getattr(vocab, "add_bos", False) and _valid_id(vocab, vocab.bos_id) and (not ids or ids[0] != vocab.bos_id):
            ids = (int(vocab.bos_id),) + ids
            note = "chat template with an empty user turn; BOS prepended"
        else:
            note = "chat template with an empty user turn"
    else:  # pragma: no cover - parse_context guards this
        raise InputError(f"unknown context mode {mode!r}")
    if not ids:
        raise InputError(f"context {spec.spec!r} gives no tokens for this vocabulary")
    return ResolvedContext(requested=spec.mode, mode=mode, ids=ids, text=render_ids(vocab, ids), note=note)
