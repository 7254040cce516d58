"""The ``profiles.<profile>.report`` section of params.yaml, typed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.settings import SettingsError, from_section


@dataclass(frozen=True)
class ReportSettings:
    out: Path
    close_tolerance: float = 0.10       # relative gap under which the unified model counts as close to a specialist
    understanding_examples: int = 8     # held-out questions shown with every variant's answer
    extra_results: tuple[Path, ...] = ()  # other studies' evaluation outs (every seed), pooled for spread

    @classmethod
    def from_profile(cls, profile: dict[str, Any]) -> ReportSettings:
        section = dict(profile.get("report") or {})
        if "out" not in section:
            raise SettingsError("report.out is missing: the folder that receives report.md and report.html.")
        section["out"] = Path(section["out"])
        section["extra_results"] = tuple(Path(p) for p in section.get("extra_results") or ())
        settings = from_section(cls, section, "report")
        if not 0 < settings.close_tolerance < 1:
            raise SettingsError(f"report.close_tolerance is {settings.close_tolerance}; give a fraction between 0 "
                                "and 1 (0.1 = 10%).")
        return settings
