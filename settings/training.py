"""params.yaml ``profiles.<p>.training`` (what every stage of every variant shares: optimizer, EMA, checkpoints,
precision, distribution, logging), ``profiles.<p>.stages`` (paper Table 1) and the top-level ``variants``
(paper Table 5).

A stage has ``trainable``, ``learning_rate``, ``warmup_steps`` (then constant), ``steps``, ``batch_size`` and
``mixture``: phases of und:gen:text ratios, ``[{steps: 10000, ratio: {...}}, {steps: null, ratio: {...}}]``, every
phase but the last with its length. Stage 1 trains only the parts JanusFlow adds to its pretrained LLM and
encoder; stage 2 everything but the SigLIP encoder; stage 3 everything. Each starts from the previous stage's
exported weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from settings.data import TASKS, Task
from settings.layout import TrainingLayout
from settings.typed import SET_BY, SettingsError

Precision = Literal["fp32", "amp_bf16"]   # Composer's precisions (CPU trains in fp32 only)
COMPUTE_DTYPES = {"fp32": "float32", "amp_bf16": "bfloat16"}  # the dtype each precision computes in
Stage = Literal["stage1", "stage2", "stage3"]
STAGES: tuple[str, ...] = get_args(Stage)
Trainable = Literal["new_parts", "all_but_understanding_encoder", "all"]
TRAINABLE: tuple[str, ...] = get_args(Trainable)
UndEncoder = Literal["siglip", "shared_generation", "separate_generation", "none"]
UND_ENCODER_SOURCES: tuple[str, ...] = get_args(UndEncoder)


@dataclass(frozen=True)
class SpeedSettings:
    """How a step computes, never what: the route to the paper profile's MFU target (docs/training.md, "Speed").
    Each option gives the same losses as without it (tests on CPU)."""

    channels_last: bool        # the ConvNeXt generation encoder and decoder in channels-last memory format
    fused_cross_entropy: int   # LM head and cross-entropy fused, this many rows at a time (recomputed); 0: off
    precomputed_latents: bool  # read the VAE posteriors the latents node stored instead of encoding every step
    compile_layers: bool       # torch.compile each LLaMA decoder layer on its own (with FSDP2: inside its unit)

    def __post_init__(self) -> None:
        if self.fused_cross_entropy < 0:
            raise SettingsError(f"training.speed.fused_cross_entropy is {self.fused_cross_entropy}; give rows per "
                                "chunk (e.g. 4096), or 0 to keep the LM head and the loss apart.")


@dataclass(frozen=True)
class MlflowSettings:
    """Composer's MLflow logger, off by default. ``tracking_uri`` null keeps a SQLite store beside the runs
    (``<training.out>/mlflow.db``; MLflow 3 keeps its plain-file store in maintenance only); a server is
    ``http://host:5000``."""

    enabled: bool
    tracking_uri: str | None
    experiment: str


@dataclass(frozen=True)
class TrainSettings:
    out: Path                                # <out>/<variant>/seed<seed>/<stage>/{checkpoints, export, logs, ...}
    betas: tuple[float, float]
    weight_decay: float
    gradient_clip: float
    ema_half_life: int                       # batches
    p_uncond: float                          # prompts replaced by the unconditional form (CFG)
    checkpoint_interval: int                 # batches
    checkpoints_to_keep: int
    eval_interval: int                       # batches; 0 disables the validation loss
    eval_batches: int
    precision: Precision
    device_microbatch_size: int | None       # per GPU; None: the whole batch at once
    parallelism: Literal["fsdp", "fsdp2"] | None   # one FSDP (or FSDP2 fully_shard) unit per decoder layer
    activation_checkpointing: bool
    tensorboard: bool
    mlflow: MlflowSettings
    speed: SpeedSettings
    sample_prompts: tuple[str, ...]          # a grid of these after every fit (and every sample_interval batches)
    sample_interval: int                     # batches; 0: only after the fit
    monitor_window: int                      # batches the throughput is averaged over (SpeedMonitor)
    save_folder: str | None                  # object-store URL stages checkpoint to and resume from; None: local only

    def __post_init__(self) -> None:
        if self.speed.compile_layers and self.parallelism == "fsdp":
            raise SettingsError("training.speed.compile_layers is true under parallelism fsdp; FSDP1 with gradient "
                                "accumulation leaves sharded gradients on whole parameters, which compiled layers "
                                "cannot take (pytorch/pytorch#111317). Set parallelism: fsdp2, or compile_layers: false.")
        if self.speed.channels_last and self.parallelism == "fsdp2":
            raise SettingsError("training.speed.channels_last is true under parallelism fsdp2, which cannot shard "
                                "channels-last (non-contiguous) parameters; set channels_last: false, or parallelism: "
                                "fsdp.")

    @property
    def layout(self) -> TrainingLayout:
        return TrainingLayout(self.out)

    def parallelism_config(self) -> dict[str, Any] | None:
        """Composer's ``parallelism_config``. FSDP shards fully, one unit per decoder layer (the model's
        ``fsdp_wrap_fn``), and gathers parameters in the precision's compute dtype, but reduces gradients and keeps
        buffers in float32: Composer's ``PURE`` casts buffers too, and rotary frequencies rounded to bfloat16 turn
        the phase of position 700 by up to about a radian. FSDP2 (``fully_shard``, per-parameter sharding) casts
        parameters only, never buffers: its ``DEFAULT`` is the same bf16 compute and fp32 reduction."""
        if self.parallelism is None:
            return None
        if self.parallelism == "fsdp2":
            from composer.utils.parallelism import FSDP2Config

            return {"fsdp": FSDP2Config(activation_checkpointing=self.activation_checkpointing,
                                        mixed_precision="DEFAULT", state_dict_type="full")}
        return {"fsdp": {"sharding_strategy": "FULL_SHARD", "mixed_precision": fsdp_mixed_precision(self.precision),
                         "activation_checkpointing": self.activation_checkpointing,
                         "activation_checkpointing_reentrant": False, "use_orig_params": True}}


def fsdp_mixed_precision(precision: str) -> dict[str, str]:
    """FSDP's dtypes under a Composer precision: parameters gathered in its compute dtype, gradients reduced and
    buffers kept in float32."""
    return {"param_dtype": COMPUTE_DTYPES[precision], "reduce_dtype": "float32", "buffer_dtype": "float32"}


@dataclass(frozen=True)
class MixturePhase:
    ratio: dict[Task, float]
    steps: int | None = None

    def __post_init__(self) -> None:
        if any(weight < 0 for weight in self.ratio.values()):
            raise SettingsError(f"a mixture ratio must map {list(TASKS)} to non-negative weights, got {self.ratio}.")


@dataclass(frozen=True)
class StageSettings:
    name: str = field(metadata={SET_BY: "the key under stages"})
    trainable: Trainable
    learning_rate: float
    warmup_steps: int
    steps: int
    batch_size: int
    mixture: tuple[MixturePhase, ...]

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise SettingsError(f"stages.{self.name}: steps and batch_size must be positive, got {self.steps} and "
                                f"{self.batch_size}.")
        if not self.mixture:
            raise SettingsError(f"stages.{self.name}.mixture is empty; give at least one phase "
                                "{steps: null, ratio: {und: .., gen: .., text: ..}}.")
        for index, phase in enumerate(self.mixture[:-1]):
            if phase.steps is None:
                raise SettingsError(f"stages.{self.name}.mixture[{index}] needs 'steps' (how long it lasts); only "
                                    "the last phase runs to the end (steps: null).")

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


@dataclass(frozen=True)
class Variant:
    """One ablation of the paper's Table 5 (params.yaml ``variants.<name>``)."""

    name: str = field(metadata={SET_BY: "the key under variants"})
    description: str
    repa: bool
    und_encoder: UndEncoder
    tasks: tuple[Task, ...]

    def __post_init__(self) -> None:
        if not self.tasks:
            raise SettingsError(f"variants.{self.name}.tasks is empty; give a non-empty subset of {list(TASKS)}.")
        if "und" in self.tasks and self.und_encoder == "none":
            raise SettingsError(f"variants.{self.name} trains on understanding data but has und_encoder 'none'; give "
                                "it an encoder or drop 'und' from its tasks.")

    def ratio(self, ratio: dict[str, float]) -> dict[str, float]:
        """A stage's data ratio restricted to the streams this variant trains on."""
        return {task: weight for task, weight in ratio.items() if task in self.tasks}

    def share(self, ratio: dict[str, float]) -> float:
        """The share of a stage's iterations this variant runs: 1 for the joint variants, the und (gen) share
        of the ratio for understanding-only D (generation-only E), as the paper's 13k / 37k of 50k."""
        total = sum(ratio.values())
        return sum(self.ratio(ratio).values()) / total if total else 0.0
