"""JanusFlow's training objective on one mixed batch, in plain PyTorch; the Composer model and the benchmarks'
hand-written loop both call it.

Every data type present goes through the LLM in one pass (``joint_pass``). Understanding and text sequences give
the AR loss (response tokens only, one token-weighted mean over both and,
under data parallelism, over the global batch; a part whose answers were all cut off at the context adds nothing);
generation samples give the rectified-flow loss and, when the model has a REPA head, the REPA loss. The three
are summed 1:1:1 as in the paper. A term whose data type is absent from a batch is returned as 0 and adds
nothing, so every rank reports the same keys.

Randomness (VAE posterior samples, flow times and noise, prompt dropout) comes from one generator per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

from janusflow.losses import (
    autoregressive_loss,
    draw_flow,
    evenly_spaced_times,
    rectified_flow_loss,
    repa_loss,
    response_tokens,
)
from janusflow.modeling import JanusFlowModel
from janusflow.modeling.janusflow import LatentTokens, positions_from_mask
from janusflow.processor import IGNORE_INDEX, GenerationPrefix
from janusflow.training.joint_pass import JointHiddenStates, Rows, joint_hidden_states
from janusflow.vae import LatentCodec

TERMS = ("ar", "rf", "repa")


def step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The CPU generator of one training step on one rank: a resumed run draws what an uninterrupted one would."""
    return torch.Generator().manual_seed((seed * 1_000_003 + rank) * 1_000_003 + step)


def tokens_per_rank(count: int, device: torch.device) -> float:
    """What each rank divides its summed AR loss by: the response tokens of the whole global batch over the world
    size. Data parallelism averages the ranks' gradients, so the result is the token-weighted mean of the global
    batch, as in one process; dividing by each rank's own count would weight a rank's tokens by how few it drew.
    Every rank must call this, with or without tokens of its own."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return float(count)
    total = torch.tensor([float(count)], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total) / dist.get_world_size()


@dataclass
class GenerationRows:
    """The generation part of a microbatch, ready for the joint pass."""

    rows: Rows
    latents: LatentTokens        # the generation encoder's output, for the decoder's skip and time embedding
    target: torch.Tensor         # the velocity to predict
    repa_target: torch.Tensor | None


@dataclass
class Objective:
    """AR + RF + REPA for ``model``; ``codec`` (the frozen VAE) only encodes images into latents.

    ``zero_unused_gradients``: every trainable parameter outside the decoder layers enters the loss with weight 0, so
    a part this rank did not use (the generation blocks without generation samples, say) gets a zero gradient
    rather than none. FSDP2 reduce-scatters the gradients each rank holds, so every rank must hold the same ones."""

    model: JanusFlowModel
    codec: LatentCodec
    pad_id: int
    p_uncond: float = 0.1
    ce_chunk: int = 0   # > 0: the LM head fused into the AR loss, this many rows at a time
    zero_unused_gradients: bool = False

    def latents(self, pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            return self.codec.encode(pixels, generator)

    def autoregressive_rows(self, batch: dict[str, Any], generator: torch.Generator,
                            ) -> tuple[Rows, torch.Tensor] | None:
        """The und and text sequences that still hold an answer token, as one block of right-padded rows, and
        their labels."""
        parts = []
        for task in ("und", "text"):
            part = batch.get(task)
            if part is None or not response_tokens(part["labels"]):
                continue  # training truncates long conversations at the context; one may lose every answer
            ids, mask = part["input_ids"], part["attention_mask"]
            no_image = torch.zeros_like(ids, dtype=torch.bool)
            pixels = part.get("pixel_values")
            latents = (self.latents(pixels, generator)
                       if task == "und" and self.model.understands_latents else None)
            embeds = self.model.prepare_inputs_embeds(ids, pixels, part.get("image_token_mask", no_image),
                                                      part.get("image_begin_mask", no_image), latents)
            parts.append((Rows(embeds, mask, positions_from_mask(mask)), part["labels"]))
        if not parts:
            return None
        length = max(rows.length for rows, _ in parts)
        rows = Rows.concatenated([rows.padded(length, "right") for rows, _ in parts])
        labels = torch.cat([F.pad(labels, (0, length - labels.shape[1]), value=IGNORE_INDEX) for _, labels in parts])
        return rows, labels

    def generation_rows(self, gen: dict[str, Any], generator: torch.Generator, fixed_times: bool) -> GenerationRows:
        """Noisy latents, the flow target and the (partly unconditional) prompts of the generation samples."""
        pixels = gen["pixel_values"]
        repa_target = self.model.repa_target(pixels) if self.model.repa_head is not None else None
        prefix = GenerationPrefix(input_ids=gen["prefix_ids"], attention_mask=gen["prefix_attention"])
        moments = gen.get("latent_moments")   # encoded ahead of training (training.speed.precomputed_latents)
        clean = self.latents(pixels, generator) if moments is None else self.codec.sample(moments, generator)
        draw = draw_flow(clean, prefix, self.pad_id, generator, 0.0 if fixed_times else self.p_uncond,
                         evenly_spaced_times(len(pixels), pixels.device) if fixed_times else None)
        latents = self.model.encode_latents(draw.z_t, draw.t)
        inputs = self.model.generation_inputs(draw.prompts.input_ids, draw.prompts.attention_mask,
                                              prefix.attention_mask.to(clean.device), latents)
        return GenerationRows(Rows(*inputs), latents, draw.target, repa_target)

    def __call__(self, batch: dict[str, Any], generator: torch.Generator,
                 fixed_times: bool = False) -> dict[str, torch.Tensor]:
        """{"ar", "rf", "repa", "total"}; ``fixed_times``: evenly spaced t and no prompt dropout (validation)."""
        zero = torch.zeros((), device=self.model.device)
        ar = self.autoregressive_rows(batch, generator)
        gen = None if batch.get("gen") is None else self.generation_rows(batch["gen"], generator, fixed_times)
        denominator = tokens_per_rank(0 if ar is None else response_tokens(ar[1]), self.model.device)
        if ar is None and gen is None:
            raise ValueError("the batch holds no und, gen or text samples.")
        repa_layer = None if gen is None or gen.repa_target is None else self.model.config.repa_config.layer
        hidden = joint_hidden_states(self.model, None if ar is None else ar[0], None if gen is None else gen.rows,
                                     0 if gen is None else gen.latents.tokens.shape[1], repa_layer)
        terms = self.terms(hidden, ar, gen, denominator)
        total = sum(terms.values(), zero)
        if self.zero_unused_gradients:
            total = total + 0.0 * sum(p.reshape(-1)[0] for p in self.outside_decoder_layers())
        return {**{term: terms.get(term, zero) for term in TERMS}, "total": total}

    def terms(self, hidden: JointHiddenStates, ar: tuple[Rows, torch.Tensor] | None, gen: GenerationRows | None,
              denominator: float) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = {}
        if ar is not None:
            terms["ar"] = autoregressive_loss(hidden.ar, ar[1], self.model.language_model.lm_head, reduction="sum",
                                              chunk=self.ce_chunk) / denominator
        if gen is not None:
            terms["rf"] = rectified_flow_loss(self.model.decode_velocity(hidden.gen, gen.latents), gen.target)
            if gen.repa_target is not None:
                terms["repa"] = repa_loss(self.model.repa_head(hidden.repa), gen.repa_target)
        return terms

    def outside_decoder_layers(self) -> list[torch.nn.Parameter]:
        """Trainable parameters that are not in a decoder layer: the ones FSDP keeps in the root unit, gathered
        for the whole forward (a decoder layer's are gathered only around its own call, and every rank runs it)."""
        layers = "language_model.model.layers."
        return [p for name, p in self.model.named_parameters() if p.requires_grad and not name.startswith(layers)]
