"""JanusFlow as a Composer model: one forward over a mixed batch of understanding, generation and text samples.

Understanding and text sequences give the AR loss (response tokens only, one token-weighted mean over both);
generation samples give the rectified-flow loss and, when the variant has REPA, the REPA loss. The three are
summed 1:1:1 as in the paper and each is logged on its own (``loss/train/ar``, ``.../rf``, ``.../repa``). A term
whose data type is absent from a batch is logged as 0 and adds nothing, so every rank logs the same keys.

Randomness (VAE posterior samples, flow times and noise, prompt dropout) comes from a generator seeded by the
run seed, the rank and the batch index, so a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from composer.models import ComposerModel
from composer.utils import dist
from torchmetrics import MeanMetric, Metric

from janusflow.losses import evenly_spaced_times, generation_losses
from janusflow.modeling import JanusFlowModel
from janusflow.processor import IGNORE_INDEX, GenerationPrefix, JanusFlowProcessor
from janusflow.sampling import FlowSampler, SampleOutput
from janusflow.vae import LatentCodec

TERMS = ("ar", "rf", "repa")
LATENT_SOURCES = ("shared_generation", "separate_generation")


class TermMean(MeanMetric):
    """Sample-weighted mean of one loss term over the validation batches that hold its data type."""

    def __init__(self, term: str) -> None:
        super().__init__()
        self.term = term


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The CPU generator of one training step on one rank."""
    return torch.Generator().manual_seed((seed * 1_000_003 + rank) * 1_000_003 + step)


def _response_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over response tokens, and their count."""
    shifted = labels[:, 1:].reshape(-1)
    total = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), shifted,
                            ignore_index=IGNORE_INDEX, reduction="sum")
    return total, int((shifted != IGNORE_INDEX).sum())


class JanusFlowComposerModel(ComposerModel):
    """``model`` trains; ``codec`` (the VAE) is frozen and only encodes images into latents."""

    def __init__(self, model: JanusFlowModel, codec: LatentCodec, processor: JanusFlowProcessor, seed: int = 0,
                 p_uncond: float = 0.1) -> None:
        super().__init__()
        self.model = model
        self.vae = codec.vae.requires_grad_(False)
        self.codec = codec
        self.processor = processor
        self.pad_id = int(processor.tokenizer.pad_token_id)
        self.seed, self.p_uncond = seed, p_uncond
        self.step = 0
        self.val_metrics = {f"val_{term}": TermMean(term) for term in TERMS}

    def train(self, mode: bool = True) -> JanusFlowComposerModel:
        super().train(mode)
        self.vae.eval()
        return self

    # ----- losses -----------------------------------------------------------------------------------------

    def _latents(self, pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            return self.codec.encode(pixels, generator)

    def _autoregressive(self, batch: dict[str, Any], generator: torch.Generator) -> torch.Tensor | None:
        total, count = None, 0
        for task in ("und", "text"):
            part = batch.get(task)
            if part is None:
                continue
            ids = part["input_ids"]
            no_image = torch.zeros_like(ids, dtype=torch.bool)
            pixels = part.get("pixel_values")
            latents = (self._latents(pixels, generator)
                       if task == "und" and self.model.config.und_encoder_source in LATENT_SOURCES else None)
            logits = self.model.understanding_logits(ids, part["attention_mask"], pixels,
                                                     part.get("image_token_mask", no_image),
                                                     part.get("image_begin_mask", no_image), latents)
            summed, n = _response_cross_entropy(logits, part["labels"])
            total, count = (summed if total is None else total + summed), count + n
        if total is None:
            return None
        if count == 0:
            raise ValueError("the batch's understanding/text labels hold no response tokens (all -100); check the "
                             "processor's chat template and the shards' conversations.")
        return total / count

    def losses(self, batch: dict[str, Any], generator: torch.Generator, fixed_times: bool = False) -> dict[str, torch.Tensor]:
        zero = torch.zeros((), device=self.model.device)
        terms: dict[str, torch.Tensor] = {}
        ar = self._autoregressive(batch, generator)
        if ar is not None:
            terms["ar"] = ar
        gen = batch.get("gen")
        if gen is not None:
            pixels = gen["pixel_values"]
            target = self.model.repa_target(pixels) if self.model.repa_head is not None else None
            prefix = GenerationPrefix(input_ids=gen["prefix_ids"], attention_mask=gen["prefix_attention"])
            times = evenly_spaced_times(len(pixels), pixels.device) if fixed_times else None
            out = generation_losses(self.model, prefix, self._latents(pixels, generator), target, self.pad_id,
                                    generator, 0.0 if fixed_times else self.p_uncond, times)
            terms["rf"] = out.rf
            if out.repa is not None:
                terms["repa"] = out.repa
        if not terms:
            raise ValueError("the batch holds no und, gen or text samples.")
        total = sum(terms.values(), zero)
        return {**{term: terms.get(term, zero) for term in TERMS}, "total": total}

    # ----- ComposerModel ----------------------------------------------------------------------------------

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.losses(batch, step_generator(self.seed, dist.get_global_rank(), self.step))

    def loss(self, outputs: dict[str, torch.Tensor], batch: dict[str, Any], *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        return outputs

    def eval_forward(self, batch: dict[str, Any], outputs: Any | None = None) -> dict[str, torch.Tensor]:
        """Losses at evenly spaced t, a fixed noise seed and no prompt dropout: a low-variance validation loss."""
        with torch.no_grad():
            return self.losses(batch, step_generator(self.seed, dist.get_global_rank(), -1), fixed_times=True)

    def get_metrics(self, is_train: bool = False) -> dict[str, Metric]:
        return {} if is_train else self.val_metrics

    def update_metric(self, batch: Any, outputs: Any, metric: Metric) -> None:
        """Weight each batch's term by its samples; a batch without the term's data type adds weight 0."""
        present = any(t in batch for t in ("und", "text")) if metric.term == "ar" else "gen" in batch
        weight = len(batch["tasks"]) if present else 0
        metric.update(outputs[metric.term].detach().float(), weight=weight)

    # ----- sampling ---------------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], seeds: Sequence[int], steps: int = 30, cfg_weight: float = 2.0) -> SampleOutput:
        """Images for ``prompts`` with the current weights (for image callbacks and sample grids)."""
        was_training = self.training
        self.eval()
        try:
            return FlowSampler(self.model, self.processor, self.codec).sample(prompts, seeds, steps, cfg_weight)
        finally:
            self.train(was_training)
