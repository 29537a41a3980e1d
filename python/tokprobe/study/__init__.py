"""Whole studies: a config of models grouped by technique, every analysis, one report.

    >>> from tokprobe.study import default_config, run_study
    >>> res = run_study(default_config(quick=True), "tokprobe-runs/quick")   # doctest: +SKIP
    >>> res.report_html                                                      # doctest: +SKIP
"""

from .config import (
    DEFAULT_LADDER_TYPES,
    TECHNIQUES,
    Group,
    StudyConfig,
    default_config,
    load_config,
    parse_config,
    study_config,
)
from .runner import STEPS, StudyResult, run_study

__all__ = [
    "DEFAULT_LADDER_TYPES", "STEPS", "TECHNIQUES", "Group", "StudyConfig", "StudyResult", "default_config",
    "load_config", "parse_config", "run_study", "study_config",
]
