"""Typed views of params.yaml sections: unknown keys are errors that list the valid ones."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class SettingsError(ValueError):
    """A params.yaml section has an unknown key, a missing key or a value of the wrong kind."""


def from_section(cls: type[T], section: dict[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from a params section; ``where`` names the section in error messages."""
    section = dict(section or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - names)
    if unknown:
        raise SettingsError(f"{where} has unknown key(s) {unknown}; valid keys are {sorted(names)}.")
    try:
        return cls(**section)
    except TypeError as error:
        raise SettingsError(f"{where}: {error}; valid keys are {sorted(names)}.") from error


def load_profile(path: str | Path, profile: str) -> dict[str, Any]:
    """The ``profiles.<profile>`` section of a params file, plus the top-level ``seed``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no params file at {path}; run from the repository root or pass --params PATH.")
    params = yaml.safe_load(path.read_text()) or {}
    profiles = params.get("profiles") or {}
    if profile not in profiles:
        raise SettingsError(f"profile {profile!r} is not in {path}; choose one of {sorted(profiles)}.")
    return {"seed": params.get("seed", 0), **profiles[profile]}
