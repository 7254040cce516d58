"""params.yaml ``profiles.<p>.training``: what every stage of every variant shares (optimizer, EMA, checkpoints,
precision, distribution, logging)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.settings import SettingsError, from_section
from janusflow.params import RunKey

COMPUTE_DTYPES = {"fp32": "float32", "amp_bf16": "bfloat16"}  # Composer's precisions and the dtype each computes in
PRECISIONS = tuple(COMPUTE_DTYPES)
PARALLELISM = (None, "fsdp")


def fsdp_mixed_precision(precision: str) -> dict[str, str]:
    """FSDP's dtypes under a Composer precision: parameters gathered in its compute dtype, gradients reduced and
    buffers kept in float32."""
    return {"param_dtype": COMPUTE_DTYPES[precision], "reduce_dtype": "float32", "buffer_dtype": "float32"}


@dataclass(frozen=True)
class TrainSettings:
    out: Path                                # <out>/<variant>/seed<seed>/<stage>/{checkpoints, export, logs, ...}
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
        if "out" not in section:
            raise SettingsError("training.out is missing: the folder that receives checkpoints and exports.")
        settings = from_section(cls, section, "training")
        if settings.precision not in PRECISIONS:
            raise SettingsError(f"training.precision is {settings.precision!r}; use one of {list(PRECISIONS)}.")
        if settings.parallelism not in PARALLELISM:
            raise SettingsError(f"training.parallelism is {settings.parallelism!r}; use one of {list(PARALLELISM)}.")
        return settings

    def parallelism_config(self) -> dict[str, Any] | None:
        """Composer's ``parallelism_config``. FSDP shards fully, one unit per decoder layer (the model's
        ``fsdp_wrap_fn``), and gathers parameters in the precision's compute dtype, but reduces gradients and keeps
        buffers in float32: Composer's ``PURE`` casts buffers too, and rotary frequencies rounded to bfloat16 turn
        the phase of position 700 by up to about a radian."""
        if self.parallelism is None:
            return None
        return {"fsdp": {"sharding_strategy": "FULL_SHARD", "mixed_precision": fsdp_mixed_precision(self.precision),
                         "activation_checkpointing": self.activation_checkpointing,
                         "activation_checkpointing_reentrant": False, "use_orig_params": True}}

    def stage_dir(self, run: RunKey, stage: str) -> Path:
        return self.out / run.folder / stage
