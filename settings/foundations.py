"""params.yaml ``profiles.<p>.foundations``: the tiny profile's foundations, trained here from the shapes world
(tokenizer, LLM, understanding encoder, VAE, each with its quality gates), or the paper profile's pointers to
pretrained parts (local directories or hub ids already in the local cache)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from settings.data import CATEGORIES, QuestionCategory
from settings.layout import FoundationLayout
from settings.typed import SET_BY, SettingsError

Foundation = Literal["tokenizer", "llm", "encoder", "vae"]
FOUNDATIONS: tuple[str, ...] = get_args(Foundation)


@dataclass(frozen=True)
class TrainingSettings:
    """``foundations.<name>.training``; ``seed`` is the top-level seed."""

    steps: int = 600
    batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_steps: int = 50
    weight_decay: float = 0.0
    seed: int = field(default=0, metadata={SET_BY: "seed"})


@dataclass(frozen=True)
class ReadingPhase:
    """A stretch of the scene reading: questions of ``categories`` (a category named twice is asked twice as often)
    for ``steps`` batches, or to the end of training (None)."""

    categories: tuple[QuestionCategory, ...] = CATEGORIES
    steps: int | None = None


def check_curriculum(phases: Sequence[ReadingPhase]) -> None:
    """Every phase asks known categories for at least one batch; only the last one runs to the end."""
    if not phases:
        raise SettingsError("a reading curriculum needs at least one phase.")
    for index, phase in enumerate(phases):
        unknown = sorted(set(phase.categories) - set(CATEGORIES))
        if unknown or not phase.categories:
            raise SettingsError(f"reading phase {index} asks {list(phase.categories)}; choose categories from "
                                f"{list(CATEGORIES)}.")
        last = index == len(phases) - 1
        if (phase.steps is None) != last or (phase.steps is not None and phase.steps < 1):
            raise SettingsError(f"reading phase {index} has steps={phase.steps}; every phase but the last needs "
                                "steps >= 1 and the last runs to the end (steps: null).")


@dataclass(frozen=True)
class TokenizerSettings:
    vocab_size: int


@dataclass(frozen=True)
class ReadingSettings:
    """Scene-reading conversations beside each text batch of the LLM (0: text only), by curriculum."""

    batch_size: int
    curriculum: tuple[ReadingPhase, ...]

    def __post_init__(self) -> None:
        if self.batch_size < 0:
            raise SettingsError(f"foundations.llm.reading.batch_size is {self.batch_size}; give N >= 0 (0: text only).")
        check_curriculum(self.curriculum)


@dataclass(frozen=True)
class LlmSettings:
    sequence_length: int
    initializer_range: float   # the LLM's init std; the tiny profile uses 1/sqrt(width)
    reading: ReadingSettings
    training: TrainingSettings


@dataclass(frozen=True)
class TextTowerSettings:
    width: int
    layers: int
    heads: int
    context_length: int
    embed_dim: int


@dataclass(frozen=True)
class EncoderSettings:
    text_tower: TextTowerSettings
    training: TrainingSettings


@dataclass(frozen=True)
class VaeSettings:
    channels: tuple[int, ...]
    kl_weight: float
    object_weight: float   # the reconstruction loss's weight on object pixels (background: 1)
    training: TrainingSettings


Bounds = dict[Literal["min", "max"], float]


@dataclass(frozen=True)
class FoundationSettings:
    """The tiny profile's foundations, built under ``out/<name>``."""

    out: Path
    tokenizer: TokenizerSettings
    llm: LlmSettings
    encoder: EncoderSettings
    vae: VaeSettings
    gates: dict[Foundation, dict[str, Bounds]]   # metric: {min: x} / {max: x}; a failing foundation blocks training

    @property
    def layout(self) -> FoundationLayout:
        return FoundationLayout(self.out)

    def directory(self, name: str) -> Path:
        return self.layout.directory(name)

    def training(self, name: str) -> TrainingSettings | None:
        """The training settings of foundation ``name`` (the tokenizer has none)."""
        return {"llm": self.llm.training, "encoder": self.encoder.training, "vae": self.vae.training}.get(name)


@dataclass(frozen=True)
class PretrainedFoundations:
    """The paper profile's pretrained parts: a LLaMA-architecture LLM in transformers layout, a timm SigLIP and a
    diffusers AutoencoderKL, each a local directory or a hub id already in the local cache."""

    llm: str | None
    encoder: str
    vae: str
