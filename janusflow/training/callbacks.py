"""Composer callbacks and the one algorithm switch that JanusFlow training needs."""

from __future__ import annotations

import math

from composer.core import Algorithm, Callback, Event, State
from composer.loggers import Logger

from janusflow.training.composer_model import JanusFlowComposerModel


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
