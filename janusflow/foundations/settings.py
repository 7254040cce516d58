"""The tiny profile's ``foundations`` section of params.yaml, typed and checked."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from data.settings import SettingsError, check_value, from_section
from data.shapes.conversations import CATEGORIES
from janusflow.foundations.reading import ReadingPhase, check_curriculum
from janusflow.foundations.training import TrainingSettings

NAMES = ("tokenizer", "llm", "encoder", "vae")
SECTION_KEYS = ("out", *NAMES, "gates")


def _reading(reading: dict[str, Any]) -> tuple[int, tuple[ReadingPhase, ...]]:
    """``foundations.llm.reading``: conversations per LLM step (0: text only) and the curriculum,
    ``[{steps: 1000, categories: [color]}, {categories: [...]}]`` (all categories throughout when absent)."""
    batch_size = check_value(reading.get("batch_size", 0), int, "foundations.llm.reading.batch_size")
    if set(reading) - {"batch_size", "curriculum"} or batch_size < 0:
        raise SettingsError(f"foundations.llm.reading is {reading}; give {{batch_size: N, curriculum: [...]}} (N >= 0, "
                            "0 for text only).")
    phases = reading.get("curriculum") or [{}]
    try:
        curriculum = tuple(ReadingPhase(tuple(phase.get("categories", CATEGORIES)), phase.get("steps"))
                           for phase in phases)
        check_curriculum(curriculum)
    except (AttributeError, TypeError, ValueError) as error:
        raise SettingsError(f"foundations.llm.reading.curriculum is {phases}: {error} Each phase is "
                            "{steps: N, categories: [...]}, the last without steps.") from error
    return batch_size, curriculum


@dataclass(frozen=True)
class FoundationSettings:
    out: Path
    vocab_size: int
    sequence_length: int
    llm_initializer_range: float
    llm_reading_batch_size: int   # scene-reading conversations per LLM step (0: text only)
    llm_reading_curriculum: tuple[ReadingPhase, ...]
    llm_training: TrainingSettings
    text_tower: dict[str, int]
    encoder_training: TrainingSettings
    vae_channels: tuple[int, ...]
    kl_weight: float
    vae_object_weight: float      # the reconstruction loss's weight on object pixels (background: 1)
    vae_training: TrainingSettings
    gates: dict[str, dict[str, dict[str, float]]]

    def directory(self, name: str) -> Path:
        return self.out / name

    @classmethod
    def from_profile(cls, profile: dict[str, Any]) -> FoundationSettings:
        """``profile`` is ``profiles.tiny`` plus the top-level seed, which seeds every foundation."""
        section = profile.get("foundations") or {}
        unknown = sorted(set(section) - set(SECTION_KEYS))
        missing = [k for k in SECTION_KEYS if k not in section]
        if unknown or missing:
            raise SettingsError(f"foundations needs exactly the keys {list(SECTION_KEYS)}; unknown {unknown}, "
                                f"missing {missing}.")
        seed = int(profile.get("seed", 0))

        def training(name: str) -> TrainingSettings:
            part = dict(section[name])
            return replace(from_section(TrainingSettings, part.pop("training", {}), f"foundations.{name}.training"),
                           seed=seed)

        def only(name: str, keys: tuple[str, ...]) -> dict[str, Any]:
            extra = sorted(set(section[name]) - set(keys))
            if extra:
                raise SettingsError(f"foundations.{name} has unknown key(s) {extra}; valid keys are {list(keys)}.")
            return section[name]

        if "initializer_range" not in section["llm"]:
            raise SettingsError("foundations.llm needs initializer_range (the LLM's init std; the tiny profile uses "
                                "1/sqrt(width)).")
        if "object_weight" not in (section["vae"] or {}):
            raise SettingsError("foundations.vae needs object_weight (the reconstruction loss's weight on object "
                                "pixels; 1 weighs every pixel alike).")
        gates = section["gates"] or {}
        if set(gates) - set(NAMES):
            raise SettingsError(f"foundations.gates names {sorted(set(gates) - set(NAMES))}; use {list(NAMES)}.")
        reading_batch_size, reading_curriculum = _reading(section["llm"].get("reading") or {})
        def value(name: str, key: str, hint: Any) -> Any:
            return check_value(section[name][key], hint, f"foundations.{name}.{key}")

        only("tokenizer", ("vocab_size",))
        only("llm", ("sequence_length", "initializer_range", "reading", "training"))
        only("encoder", ("text_tower", "training"))
        only("vae", ("channels", "kl_weight", "object_weight", "training"))
        return cls(
            out=check_value(section["out"], Path, "foundations.out"),
            vocab_size=value("tokenizer", "vocab_size", int),
            sequence_length=value("llm", "sequence_length", int),
            llm_initializer_range=value("llm", "initializer_range", float),
            llm_reading_batch_size=reading_batch_size,
            llm_reading_curriculum=reading_curriculum,
            llm_training=training("llm"),
            text_tower=value("encoder", "text_tower", dict[str, int]),
            encoder_training=training("encoder"),
            vae_channels=value("vae", "channels", tuple[int, ...]),
            kl_weight=value("vae", "kl_weight", float),
            vae_object_weight=value("vae", "object_weight", float),
            vae_training=training("vae"),
            gates=check_value(gates, dict[str, dict[str, dict[str, float]]], "foundations.gates"),
        )
