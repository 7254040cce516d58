"""The ``profiles.<profile>.report`` section of params.yaml, typed."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from data.settings import SettingsError


@dataclass(frozen=True)
class ReportSettings:
    out: Path
    close_tolerance: float = 0.10       # relative gap under which the unified model counts as close to a specialist
    understanding_examples: int = 8     # held-out questions shown with every variant's answer
    extra_results: tuple[Path, ...] = ()  # other seeds' evaluation outs, pooled for spread

    @classmethod
    def from_profile(cls, profile: dict[str, Any]) -> ReportSettings:
        section = dict(profile.get("report") or {})
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(section) - set(valid))
        if unknown:
            raise SettingsError(f"report has unknown key(s) {unknown}; valid keys are {valid}.")
        if "out" not in section:
            raise SettingsError("report.out is missing: the folder that receives report.md and report.html.")
        tolerance = float(section.get("close_tolerance", 0.10))
        if not 0 < tolerance < 1:
            raise SettingsError(f"report.close_tolerance is {tolerance}; give a fraction between 0 and 1 (0.1 = 10%).")
        return cls(out=Path(section["out"]), close_tolerance=tolerance,
                   understanding_examples=int(section.get("understanding_examples", 8)),
                   extra_results=tuple(Path(p) for p in section.get("extra_results") or ()))
