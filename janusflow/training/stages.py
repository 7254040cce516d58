"""The three training stages (paper Table 1): what each trains, how long, how fast, on which data mixture.

params.yaml ``profiles.<p>.stages.<stage>``: ``trainable``, ``learning_rate``, ``warmup_steps`` (then constant),
``steps``, ``batch_size`` and ``mixture`` (phases of und:gen:text ratios, see ``data.mixture``). Stage 1 trains
only the parts JanusFlow adds to its pretrained LLM and encoder; stage 2 everything but the SigLIP encoder;
stage 3 everything. Each stage starts from the previous stage's exported weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from data.mixture import MixturePhase, mixture_phases
from data.settings import SettingsError, check_value
from janusflow.modeling import JanusFlowModel
from janusflow.training.variants import Variant

STAGES = ("stage1", "stage2", "stage3")
STAGE_KEYS = ("trainable", "learning_rate", "warmup_steps", "steps", "batch_size", "mixture")
TRAINABLE = ("new_parts", "all_but_understanding_encoder", "all")
# The parts JanusFlow adds on top of the pretrained LLM and SigLIP (stage 1 trains only these).
NEW_PARTS = ("vision_und_enc_aligner", "beg_of_und_embed", "vision_gen_enc_model", "vision_gen_enc_aligner",
             "vision_gen_dec_model", "vision_gen_dec_aligner_norm", "vision_gen_dec_aligner", "repa_head",
             "vision_und_latent_enc_model", "vision_und_latent_enc_aligner")


@dataclass(frozen=True)
class StageSettings:
    name: str
    trainable: str
    learning_rate: float
    warmup_steps: int
    steps: int
    batch_size: int
    mixture: tuple[MixturePhase, ...]

    @property
    def previous(self) -> str | None:
        index = STAGES.index(self.name)
        return STAGES[index - 1] if index else None

    def for_variant(self, variant: Variant) -> StageSettings:
        """The stage as ``variant`` runs it: its streams only, for its share of every phase's iterations (warmup
        scaled alike), so that D and E see as many samples of their task as F does."""
        phases, total = [], 0
        for start, end, phase in self.phase_bounds():
            ratio = variant.ratio(phase.ratio)
            if not any(ratio.values()):
                continue
            length = max(1, round((end - start) * variant.share(phase.ratio)))
            phases.append(MixturePhase(ratio=ratio, steps=length))
            total += length
        if not phases:
            raise SettingsError(f"{self.name}'s mixture has no data for variant {variant.name} (tasks "
                                f"{list(variant.tasks)}); give one of its streams a weight.")
        phases[-1] = MixturePhase(ratio=phases[-1].ratio, steps=None)
        return StageSettings(name=self.name, trainable=self.trainable, learning_rate=self.learning_rate,
                             warmup_steps=round(self.warmup_steps * total / self.steps), steps=total,
                             batch_size=self.batch_size, mixture=tuple(phases))

    def phase_bounds(self) -> list[tuple[int, int, MixturePhase]]:
        """(first step, end step) of every phase; the last phase runs to ``steps``."""
        bounds, start = [], 0
        for index, phase in enumerate(self.mixture):
            end = self.steps if index == len(self.mixture) - 1 else min(self.steps, start + int(phase.steps or 0))
            if end > start:
                bounds.append((start, end, phase))
            start = end
        return bounds


def load_stage(profile: dict[str, Any], name: str) -> StageSettings:
    if name not in STAGES:
        raise SettingsError(f"unknown stage {name!r}; use one of {list(STAGES)}.")
    section = (profile.get("stages") or {}).get(name)
    if not section:
        raise SettingsError(f"params.yaml has no stages.{name} section for this profile; add one with keys "
                            f"{list(STAGE_KEYS)}.")
    unknown = sorted(set(section) - set(STAGE_KEYS))
    missing = [k for k in STAGE_KEYS if k not in section]
    if unknown or missing:
        raise SettingsError(f"stages.{name}: unknown key(s) {unknown}, missing {missing}; valid keys are "
                            f"{list(STAGE_KEYS)}.")
    if section["trainable"] not in TRAINABLE:
        raise SettingsError(f"stages.{name}.trainable is {section['trainable']!r}; use one of {list(TRAINABLE)}.")
    where = f"stages.{name}"
    steps, batch = (check_value(section[key], int, f"{where}.{key}") for key in ("steps", "batch_size"))
    if steps < 1 or batch < 1:
        raise SettingsError(f"stages.{name}: steps and batch_size must be positive, got {steps} and {batch}.")
    return StageSettings(name=name, trainable=section["trainable"],
                         learning_rate=check_value(section["learning_rate"], float, f"{where}.learning_rate"),
                         warmup_steps=check_value(section["warmup_steps"], int, f"{where}.warmup_steps"),
                         steps=steps, batch_size=batch,
                         mixture=tuple(mixture_phases(section["mixture"], f"stages.{name}.mixture")))


def set_trainable(model: nn.Module, rule: str) -> list[str]:
    """Freeze ``model`` (a JanusFlowModel) per the stage rule; return the names of the trainable top-level parts."""
    if not isinstance(model, JanusFlowModel):
        raise TypeError(f"set_trainable expects a JanusFlowModel, got {type(model).__name__}.")
    if rule not in TRAINABLE:
        raise SettingsError(f"trainable rule {rule!r} is not one of {list(TRAINABLE)}.")
    trainable = []
    for name, child in [*model.named_children(), ("beg_of_und_embed", model.beg_of_und_embed)]:
        on = (rule == "all" or (rule == "all_but_understanding_encoder" and name != "vision_und_enc_model")
              or (rule == "new_parts" and name in NEW_PARTS))
        child.requires_grad_(on)
        if on:
            trainable.append(name)
    return trainable
