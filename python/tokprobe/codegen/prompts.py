"""The text a model continues: the raw HumanEval prompt, or the prompt in a chat turn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from .problems import Problem
from .settings import CodegenSettings

INSTRUCT_HINTS = ("instruct", "-it", "_it", "chat")


def model_name(model: Any) -> str:
    """A model's display name: its name, else its file's stem."""
    return str(getattr(model, "name", None) or Path(str(getattr(model, "path", "model"))).stem)


def info_dict(model: Any) -> dict[str, Any]:
    """A model's metadata as a dict (empty when it has none)."""
    info = getattr(model, "info", None)
    if info is None:
        return {}
    if hasattr(info, "to_dict"):
        return dict(info.to_dict())
    return dict(info) if isinstance(info, dict) else {}


def has_chat_template(model: Any) -> bool:
    return bool(info_dict(model).get("has_chat_template", False))


def resolve_prompt_mode(model: Any, mode: str) -> str:
    """``auto``: ``chat`` for a model that has a chat template and looks instruction-tuned
    (name or file contains instruct / -it / chat), else ``raw``."""
    if mode != "auto":
        if mode == "chat" and not has_chat_template(model):
            raise InputError(f"{model_name(model)} has no chat template; use --prompt-mode raw")
        return mode
    if not has_chat_template(model):
        return "raw"
    names = " ".join(str(x) for x in (model_name(model), getattr(model, "path", ""), info_dict(model).get("name", "")))
    return "chat" if any(h in names.lower() for h in INSTRUCT_HINTS) else "raw"


def build_prompt(model: Any, problem: Problem, mode: str, settings: CodegenSettings) -> str:
    """The text the model continues. ``raw``: the HumanEval prompt itself. ``chat``: the prompt in a
    user turn rendered with the GGUF's chat template, then the assistant turn pre-filled with a
    code fence and the prompt, so the model continues the function body exactly as in raw mode
    (and the same stop sequences, including the closing fence, apply)."""
    if mode == "raw":
        return problem.prompt
    if mode == "chat":
        user = settings.instruction.replace("{prompt}", problem.prompt)
        rendered = model.chat_prompt(user, system=settings.system)
        if rendered is None:
            raise InputError(f"{model_name(model)} has no chat template; use --prompt-mode raw")
        return f"{rendered}```python\n{problem.prompt}"
    raise InputError(f"unknown prompt mode {mode!r}")
