"""params.yaml ``profiles.<p>.report``: the comparison report's folder and reading of the results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from settings.layout import ReportLayout
from settings.typed import SettingsError


@dataclass(frozen=True)
class ReportSettings:
    out: Path
    close_tolerance: float           # relative gap under which the unified model counts as close to a specialist
    understanding_examples: int      # held-out questions shown with every variant's answer
    extra_results: tuple[Path, ...]  # other studies' evaluation outs (every seed), pooled for spread

    @property
    def layout(self) -> ReportLayout:
        return ReportLayout(self.out)

    def __post_init__(self) -> None:
        if not 0 < self.close_tolerance < 1:
            raise SettingsError(f"report.close_tolerance is {self.close_tolerance}; give a fraction between 0 and 1 "
                                "(0.1 = 10%).")
