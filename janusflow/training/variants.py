"""The ablation variants of the paper's Table 5, defined once in params.yaml (``variants``) and selected by name.

| id | REPA | understanding encoder | trains on |
| A | no  | SigLIP                                   | und + gen + text |
| B | yes | the generation VAE+ConvNeXt encoder itself | und + gen + text |
| C | yes | a separate VAE+ConvNeXt encoder          | und + gen + text |
| D | yes | SigLIP                                   | und only, for the und share of the iterations |
| E | yes | none                                     | gen only, for the gen share of the iterations |
| F | yes | SigLIP                                   | und + gen + text (the released configuration) |

REPA's target is always the pretrained SigLIP encoder's features of the clean image (``JanusFlowModel.repa_target``).
In B, C and E nothing else uses SigLIP, so it stays the frozen pretrained encoder there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from data.settings import SettingsError, check_value
from data.sources.base import TASKS
from janusflow.config import UND_ENCODER_SOURCES, JanusFlowConfig

VARIANT_KEYS = ("description", "repa", "und_encoder", "tasks")


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    repa: bool
    und_encoder: str
    tasks: tuple[str, ...]

    def model_config(self, base: JanusFlowConfig) -> JanusFlowConfig:
        """``base`` with this variant's REPA switch and understanding-encoder source."""
        config = dataclasses.replace(base, repa_config=dataclasses.replace(base.repa_config, enabled=self.repa),
                                     und_encoder_source=self.und_encoder)
        config.validate(f"variant {self.name}")
        return config

    def ratio(self, ratio: dict[str, float]) -> dict[str, float]:
        """A stage's data ratio restricted to the streams this variant trains on."""
        return {task: weight for task, weight in ratio.items() if task in self.tasks}

    def share(self, ratio: dict[str, float]) -> float:
        """The share of a stage's iterations this variant runs: 1 for the joint variants, the und (gen) share
        of the ratio for understanding-only D (generation-only E), as the paper's 13k / 37k of 50k."""
        total = sum(ratio.values())
        return sum(self.ratio(ratio).values()) / total if total else 0.0


def _variant(name: str, raw: dict[str, Any]) -> Variant:
    where = f"variants.{name}"
    if not isinstance(raw, dict):
        raise SettingsError(f"{where} must be a mapping with keys {list(VARIANT_KEYS)}.")
    unknown = sorted(set(raw) - set(VARIANT_KEYS))
    missing = [k for k in VARIANT_KEYS if k not in raw]
    if unknown or missing:
        raise SettingsError(f"{where}: unknown key(s) {unknown}, missing {missing}; valid keys are {list(VARIANT_KEYS)}.")
    if raw["und_encoder"] not in UND_ENCODER_SOURCES:
        raise SettingsError(f"{where}.und_encoder is {raw['und_encoder']!r}; use one of {list(UND_ENCODER_SOURCES)}.")
    tasks = check_value(raw["tasks"], tuple[str, ...], f"{where}.tasks")
    if not tasks or set(tasks) - set(TASKS):
        raise SettingsError(f"{where}.tasks is {list(tasks)}; give a non-empty subset of {list(TASKS)}.")
    if "und" in tasks and raw["und_encoder"] == "none":
        raise SettingsError(f"{where} trains on understanding data but has und_encoder 'none'; give it an encoder "
                            "or drop 'und' from its tasks.")
    return Variant(name=name, description=check_value(raw["description"], str, f"{where}.description"),
                   repa=check_value(raw["repa"], bool, f"{where}.repa"), und_encoder=raw["und_encoder"], tasks=tasks)


def load_variants(params: dict[str, Any]) -> dict[str, Variant]:
    """Every variant in params.yaml, by name, in file order."""
    section = params.get("variants")
    if not section:
        raise SettingsError("params.yaml has no 'variants' section; restore it from the repository (A-F).")
    return {str(name): _variant(str(name), raw) for name, raw in section.items()}


def get_variant(params: dict[str, Any], name: str) -> Variant:
    variants = load_variants(params)
    if name not in variants:
        raise SettingsError(f"unknown variant {name!r}; params.yaml defines {list(variants)}.")
    return variants[name]
