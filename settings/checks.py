"""params.yaml ``profiles.<p>.checks``: bounds of the Dagster asset checks that block downstream assets."""

from __future__ import annotations

from dataclasses import dataclass

from settings.typed import SettingsError


@dataclass(frozen=True)
class RateBounds:
    min: float
    max: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.min <= self.max <= 1.0:
            raise SettingsError(f"bounds {{min: {self.min}, max: {self.max}}}; give 0 <= min <= max <= 1.")


@dataclass(frozen=True)
class CheckSettings:
    quarantine_rate: RateBounds   # per data type; the shapes world mixes in 3% broken records
