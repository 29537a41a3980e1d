"""A quant ladder as the model list of a cold-start run, its reference rung first.

Which rung is the reference is the ladder's own rule (:func:`tokprobe.models.order_ladder`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from .. import models
from ..models import order_ladder


def ladder_models(
    source: str | None = None,
    types: Iterable[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, str]:
    """``{label: path}`` of the quant ladder of ``source`` (built or reused by :func:`tokprobe.models.ladder`;
    default: the default model and the default ladder), the reference rung first.

    Labels are the file stems (``gemma3-270m-Q4_0``), so the result can be passed to
    :func:`tokprobe.coldstart.coldstart` as it is: its first model is the reference.
    """
    paths = models.ladder(source, types, progress=progress)
    files = [Path(paths[t]) for t in order_ladder(paths)]
    return {p.stem: str(p) for p in files}
