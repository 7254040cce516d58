"""JanusFlow as a Composer model: the objective (``objective.Objective``: AR + RF + REPA, 1:1:1) over a mixed
batch, each term logged on its own (``loss/train/ar``, ``.../rf``, ``.../repa``), a low-variance validation loss,
and a ``generate`` method for image callbacks.

The noise generator is seeded by the run seed, the rank and the batch index (``objective.step_generator``), so a
resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from composer.models import ComposerModel
from composer.utils import dist
from torchmetrics import MeanMetric, Metric

from janusflow.pipeline import JanusFlowPipeline
from janusflow.sampling import SampleOutput
from janusflow.training.objective import TERMS, Objective, step_generator
from settings.sampling import SamplingSettings


class TermMean(MeanMetric):
    """Sample-weighted mean of one loss term over the validation batches that hold its data type."""

    def __init__(self, term: str) -> None:
        super().__init__()
        self.term = term


class JanusFlowComposerModel(ComposerModel):
    """The pipeline's model trains; its codec (the VAE) is frozen and only encodes images into latents."""

    def __init__(self, pipeline: JanusFlowPipeline, seed: int = 0, p_uncond: float = 0.1, ce_chunk: int = 0,
                 zero_unused_gradients: bool = False) -> None:
        super().__init__()
        model, codec, processor = pipeline.model, pipeline.codec, pipeline.processor
        if codec is None:
            raise ValueError("training encodes images into latents; give the pipeline its VAE codec.")
        self.model = model
        self.vae = codec.vae.requires_grad_(False)
        self.vae._fsdp_wrap = False  # frozen and small: every rank keeps the whole VAE, which codec calls directly
        self.codec = codec
        self.processor = processor
        self.objective = Objective(model, codec, int(processor.tokenizer.pad_token_id), p_uncond, ce_chunk,
                                   zero_unused_gradients)
        self.seed = seed
        self.step = 0
        self.val_metrics = {f"val_{term}": TermMean(term) for term in TERMS}

    def train(self, mode: bool = True) -> JanusFlowComposerModel:
        super().train(mode)
        self.vae.eval()
        return self

    # ----- ComposerModel ----------------------------------------------------------------------------------

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.model(self.objective, batch, step_generator(self.seed, dist.get_global_rank(), self.step))

    def loss(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        return outputs

    def eval_forward(self, batch: dict[str, Any], outputs: Any | None = None) -> dict[str, torch.Tensor]:
        """Losses at evenly spaced t, a fixed noise seed and no prompt dropout: a low-variance validation loss."""
        with torch.no_grad():
            return self.model(self.objective, batch, step_generator(self.seed, dist.get_global_rank(), -1),
                              fixed_times=True)

    def get_metrics(self, is_train: bool = False) -> dict[str, Metric]:
        return {} if is_train else self.val_metrics

    def update_metric(self, batch: Any, outputs: Any, metric: Metric) -> None:
        """Weight each batch's term by its samples; a batch without the term's data type adds weight 0."""
        present = any(t in batch for t in ("und", "text")) if metric.term == "ar" else "gen" in batch
        weight = len(batch["tasks"]) if present else 0
        metric.update(outputs[metric.term].detach().float(), weight=weight)

    # ----- sampling ---------------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], seeds: Sequence[int], sampling: SamplingSettings) -> SampleOutput:
        """Images for ``prompts`` with the current weights (for image callbacks and sample grids). Under FSDP
        every rank must call it: each gathers its share of the weights for the others."""
        was_training = self.training
        self.eval()
        try:
            pipeline = JanusFlowPipeline(self.objective.model, self.processor, self.codec)
            return self.model(pipeline.generate, prompts, seeds, sampling)
        finally:
            self.train(was_training)
