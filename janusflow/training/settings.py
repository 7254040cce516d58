"""params.yaml ``profiles.<p>.training``: what every stage of every variant shares (optimizer, EMA, checkpoints,
precision, distribution, logging)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from data.settings import SettingsError

PRECISIONS = ("fp32", "amp_bf16")
PARALLELISM = (None, "fsdp")


@dataclass(frozen=True)
class TrainSettings:
    out: Path                                # <out>/<variant>/<stage>/{checkpoints, export, logs, metrics.json}
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.0
    gradient_clip: float = 1.0
    ema_half_life: int = 50                  # batches
    p_uncond: float = 0.1                    # prompts replaced by the unconditional form (CFG)
    checkpoint_interval: int = 25            # batches
    checkpoints_to_keep: int = 2
    eval_interval: int = 50                  # batches; 0 disables the validation loss
    eval_batches: int = 2
    precision: str = "fp32"                  # amp_bf16 on GPUs; Composer on CPU trains in fp32 only
    device_microbatch_size: int | None = None
    parallelism: str | None = None           # fsdp: one FSDP unit per decoder layer (GPU runs)
    activation_checkpointing: bool = False
    tensorboard: bool = False
    generation_template: str = "sft"
    sample_prompts: tuple[str, ...] = ()     # a grid of these after every fit (and every sample_interval batches)
    sample_interval: int = 0

    @classmethod
    def from_profile(cls, profile: dict[str, Any]) -> TrainSettings:
        section = dict(profile.get("training") or {})
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(section) - set(valid))
        if unknown:
            raise SettingsError(f"training has unknown key(s) {unknown}; valid keys are {valid}.")
        if "out" not in section:
            raise SettingsError("training.out is missing: the folder that receives checkpoints and exports.")
        settings = cls(**{**section, "out": Path(section["out"]), "betas": tuple(section.get("betas", (0.9, 0.95))),
                          "sample_prompts": tuple(section.get("sample_prompts", ()))})
        if settings.precision not in PRECISIONS:
            raise SettingsError(f"training.precision is {settings.precision!r}; use one of {list(PRECISIONS)}.")
        if settings.parallelism not in PARALLELISM:
            raise SettingsError(f"training.parallelism is {settings.parallelism!r}; use one of {list(PARALLELISM)}.")
        return settings

    def stage_dir(self, variant: str, stage: str) -> Path:
        return self.out / variant / stage
