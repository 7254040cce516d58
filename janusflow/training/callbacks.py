"""Composer callbacks and the one algorithm switch that JanusFlow training needs."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch
from composer.callbacks import RuntimeEstimator
from composer.core import Algorithm, Callback, Event, State
from composer.loggers import InMemoryLogger, Logger
from composer.utils import dist

from janusflow.training.composer_model import JanusFlowComposerModel
from janusflow.training.sharding import is_sharded
from settings.layout import StageLayout
from settings.sampling import SamplingSettings


def composer_model_of(state: State) -> JanusFlowComposerModel:
    """The JanusFlowComposerModel inside ``state.model`` (which DDP may wrap)."""
    model = getattr(state.model, "module", state.model)
    if not isinstance(model, JanusFlowComposerModel):
        raise TypeError(f"expected a JanusFlowComposerModel, got {type(model).__name__}.")
    return model


class StepSeed(Callback):
    """Tells the model which batch it is on, so that its noise depends on the batch index and not on how many
    batches this process has run (a resumed run draws what an uninterrupted one would)."""

    def batch_start(self, state: State, logger: Logger) -> None:
        composer_model_of(state).step = int(state.timestamp.batch)


class SampleGrid(Callback):
    """Generates the same prompts with the same seeds every ``interval`` batches (0: only at the end of a fit)
    and saves them as one grid per batch count, the stage's ``samples/ba<batch>.png``: what the stage does to images."""

    def __init__(self, prompts: list[str], files: StageLayout, interval: int, sampling: SamplingSettings) -> None:
        self.prompts, self.files, self.interval, self.sampling = prompts, files, interval, sampling

    def _save(self, state: State) -> None:
        writer = dist.get_global_rank() == 0
        if not writer and not is_sharded(state.model):
            return  # under FSDP every rank takes part in gathering the weights; otherwise rank 0 samples alone
        samples = composer_model_of(state).generate(self.prompts, list(range(len(self.prompts))), self.sampling)
        if not writer:
            return
        self.files.samples.mkdir(parents=True, exist_ok=True)
        samples.grid(columns=len(self.prompts), size=128).save(self.files.sample_grid(int(state.timestamp.batch)))

    def batch_end(self, state: State, logger: Logger) -> None:
        if self.interval and int(state.timestamp.batch) % self.interval == 0:
            self._save(state)

    def fit_end(self, state: State, logger: Logger) -> None:
        if not self.interval or int(state.timestamp.batch) % self.interval:
            self._save(state)


class LossCurve(Callback):
    """Keeps ``losses.csv``, the whole per-batch loss curve (step, ar, rf, repa, total, val_*), written at every
    checkpoint and at the end of a fit; a resumed run keeps the rows before the batch it resumed at. Validation
    losses sit on the last batch trained before they were measured."""

    def __init__(self, memory: InMemoryLogger, path: Path, interval: int, terms: tuple[str, ...]) -> None:
        self.memory, self.path, self.interval = memory, path, interval
        self.columns = {f"loss/train/{t}": t for t in (*terms, "total")} | {
            f"metrics/val/val_{t}": f"val_{t}" for t in terms}
        self.earlier: dict[int, dict[str, str]] = {}

    def fit_start(self, state: State, logger: Logger) -> None:
        resumed_at = int(state.timestamp.batch)
        if self.path.is_file() and resumed_at and not self.earlier:
            with self.path.open() as handle:
                self.earlier = {int(r["step"]): r for r in csv.DictReader(handle) if int(r["step"]) < resumed_at}

    def rows(self) -> dict[int, dict[str, str]]:
        rows = {step: dict(row) for step, row in self.earlier.items()}
        for key, column in self.columns.items():
            for timestamp, value in self.memory.data.get(key) or []:
                step = int(timestamp.batch) - (1 if column.startswith("val_") else 0)
                rows.setdefault(step, {"step": str(step)})[column] = f"{float(value):.6g}"
        return rows

    def write(self) -> None:
        if dist.get_global_rank() != 0:
            return
        rows = self.rows()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.partial")
        with partial.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, ["step", *self.columns.values()], restval="")
            writer.writeheader()
            writer.writerows(rows[step] for step in sorted(rows))
        partial.replace(self.path)

    def batch_checkpoint(self, state: State, logger: Logger) -> None:
        if self.interval and int(state.timestamp.batch) % self.interval == 0:
            self.write()

    def fit_end(self, state: State, logger: Logger) -> None:
        self.write()


class NonFiniteLossError(FloatingPointError):
    """Training stopped on a NaN or infinite loss."""


class StopOnNonFiniteLoss(Callback):
    """Stops before a NaN or infinite loss reaches the weights: the last checkpoint stays the last good one."""

    def __init__(self, checkpoints: str) -> None:
        self.checkpoints = checkpoints

    def after_loss(self, state: State, logger: Logger) -> None:
        losses = state.loss if isinstance(state.loss, dict) else {"total": state.loss}
        bad = {k: float(v) for k, v in losses.items() if not math.isfinite(float(v))}
        if bad:
            raise NonFiniteLossError(
                f"loss became non-finite at batch {int(state.timestamp.batch)} ({bad}); the weights were not updated "
                f"and the last good checkpoint is in {self.checkpoints}. Lower the stage's learning_rate or check "
                "the data, then run the stage again to resume from that checkpoint.")


class CompleteOptimizerState(Callback):
    """Gives every trainable parameter that has not had a gradient yet (the SigLIP aligner in C, the generation
    decoder in D) the AdamW state a first step would create: zero moments at step 0. Composer restores optimizer
    state per parameter name and cannot resume from a checkpoint that lacks one. The state is exactly what AdamW
    initializes, so training is unchanged; FSDP keeps flat parameters of its own and is left alone."""

    def batch_end(self, state: State, logger: Logger) -> None:
        if state.fsdp_enabled:
            return
        for optimizer in state.optimizers:
            for group in optimizer.param_groups:
                for parameter in group["params"]:
                    if parameter.requires_grad and not optimizer.state.get(parameter):
                        optimizer.state[parameter] = initial_adamw_state(parameter, bool(group.get("fused")))


def initial_adamw_state(parameter: torch.Tensor, fused: bool = False) -> dict[str, torch.Tensor]:
    """The state ``torch.optim.AdamW`` creates for a parameter before its first update (the fused optimizer keeps
    its step count on the parameter's device)."""
    step = torch.zeros((), dtype=torch.float32, device=parameter.device) if fused else torch.tensor(0.0)
    return {"step": step,
            "exp_avg": torch.zeros_like(parameter, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.zeros_like(parameter, memory_format=torch.preserve_format)}


class MixedBatches(Algorithm):
    """A mixed batch need not touch every trainable part (a step without generation samples leaves the
    generation decoder without gradient), so distributed data parallel must look for unused parameters."""

    @property
    def find_unused_parameters(self) -> bool:
        return True

    def match(self, event: Event, state: State) -> bool:
        return False

    def apply(self, event: Event, state: State, logger: Logger) -> None:
        return None


class StageRuntimeEstimator(RuntimeEstimator):
    """Composer's RuntimeEstimator, measured against the whole stage. A stage is fitted phase by phase, and each
    fit moves the Trainer's ``max_duration`` to the end of its phase, so Composer's own progress fraction restarts,
    and falls, at every phase; the evaluation frequency it derives from it then becomes zero or negative, and
    Composer 0.32 divides by it. Progress here is the batch over the stage's length."""

    def __init__(self, total_batches: int) -> None:
        super().__init__()
        self.total_batches = total_batches

    def _get_elapsed_duration(self, state: State) -> float:
        return int(state.timestamp.batch) / self.total_batches
