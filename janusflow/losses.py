"""JanusFlow's three training losses (summed 1:1:1 by the trainer).

- AR: next-token cross-entropy on response tokens only (labels are -100 elsewhere).
- RF: rectified flow with ``z_t = t x + (1 - t) z0`` (t=0 noise, t=1 data), target velocity ``x - z0``,
  ``t ~ logit-normal``; a share of prompts (10% in the paper) is replaced by the unconditional form for CFG.
- REPA: negative mean cosine similarity between the REPA head applied to the LLM hidden state after block k
  and the stop-gradient understanding-encoder features of the clean image, on the same token grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from janusflow.modeling.janusflow import JanusFlowModel
from janusflow.processor import IGNORE_INDEX, GenerationPrefix


def autoregressive_loss(hidden: torch.Tensor, labels: torch.Tensor, head: nn.Module, reduction: str = "mean",
                        chunk: int = 0) -> torch.Tensor:
    """Cross-entropy of predicting token i+1 from position i over positions whose label is not -100: their mean,
    or with ``reduction="sum"`` their sum (to average several batches by their token counts).

    ``hidden`` [B, L, D] are the LLM's last hidden states and ``head`` its LM head, applied only at the positions
    that predict a response token: an understanding sample's image and prompt positions (576 of 704 in the paper
    profile) never get a vocabulary-wide row of fp32 logits. ``chunk`` > 0 fuses the head into the loss: ``chunk``
    rows at a time, their logits recomputed in backward, so no more than one chunk's fp32 logits ever exist."""
    keep = labels[:, 1:] != IGNORE_INDEX
    if not bool(keep.any()):
        raise ValueError("labels hold no response tokens (all -100); the AR loss needs at least one answer token.")
    rows, targets = hidden[:, :-1][keep], labels[:, 1:][keep]
    if chunk <= 0:
        return F.cross_entropy(head(rows).float(), targets, reduction=reduction)
    summed = sum(checkpoint(summed_cross_entropy, rows[start:start + chunk], targets[start:start + chunk], head,
                            use_reentrant=False) for start in range(0, len(rows), chunk))
    return summed if reduction == "sum" else summed / len(rows)


def summed_cross_entropy(rows: torch.Tensor, targets: torch.Tensor, head: nn.Module) -> torch.Tensor:
    return F.cross_entropy(head(rows).float(), targets, reduction="sum")


def response_tokens(labels: torch.Tensor) -> int:
    """How many positions ``autoregressive_loss`` averages over."""
    return int((labels[:, 1:] != IGNORE_INDEX).sum())


def sample_logit_normal(n: int, generator: torch.Generator | None = None, mean: float = 0.0, std: float = 1.0,
                        device: torch.device | str = "cpu") -> torch.Tensor:
    """t = sigmoid(mean + std * N(0, 1)), as in Stable Diffusion 3: more samples at mid-range times."""
    return torch.sigmoid(mean + std * torch.randn(n, generator=generator)).to(device)


def rectified_flow_pair(x: torch.Tensor, z0: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(z_t, target velocity) for clean latents x, noise z0 and per-sample times t."""
    t = t.view(-1, *([1] * (x.ndim - 1))).to(x.dtype)
    return t * x + (1 - t) * z0, x - z0


def rectified_flow_loss(velocity: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(velocity.float(), target.float())


def repa_loss(projected: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-mean cosine similarity over samples and tokens; no gradient flows into the target."""
    if projected.shape != target.shape:
        raise ValueError(
            f"REPA features {tuple(projected.shape)} and target {tuple(target.shape)} differ; the generation token "
            "grid must equal the understanding encoder's patch grid (H_gen = H_im) and the head's output its width."
        )
    return -F.cosine_similarity(projected.float(), target.detach().float(), dim=-1).mean()


def condition_dropout(prefix: GenerationPrefix, pad_id: int, p: float,
                      generator: torch.Generator | None = None) -> tuple[GenerationPrefix, torch.Tensor]:
    """Replace a random share ``p`` of prompts by the unconditional form (BOS + pads, prompt masked out).

    Returns the mixed prefix and the boolean mask of dropped rows; positions still follow the original
    ``prefix.attention_mask`` (the slots), as at sampling time."""
    dropped = torch.rand(prefix.input_ids.shape[0], generator=generator) < p
    uncond = prefix.unconditional(pad_id)
    rows = dropped[:, None].to(prefix.input_ids.device)
    return GenerationPrefix(
        input_ids=torch.where(rows, uncond.input_ids, prefix.input_ids),
        attention_mask=torch.where(rows, uncond.attention_mask, prefix.attention_mask),
    ), dropped


@dataclass
class GenerationLosses:
    rf: torch.Tensor
    repa: torch.Tensor | None
    dropped: torch.Tensor


def evenly_spaced_times(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(i + 0.5) / n for i < n: the validation loss's fixed times, so that it does not vary with the t draw."""
    return (torch.arange(n, dtype=torch.float32) + 0.5).div(n).to(device)


@dataclass
class FlowDraw:
    """One training draw of rectified flow for a batch of clean latents and their prompts."""

    t: torch.Tensor          # [B] times
    z_t: torch.Tensor        # [B, C, H, W] the noisy latents the model sees
    target: torch.Tensor     # [B, C, H, W] the velocity it should predict
    prompts: GenerationPrefix   # the prompts, a share ``p_uncond`` replaced by the unconditional form
    dropped: torch.Tensor    # [B] which prompts were replaced


def draw_flow(latents: torch.Tensor, prefix: GenerationPrefix, pad_id: int, generator: torch.Generator | None = None,
              p_uncond: float = 0.1, t: torch.Tensor | None = None) -> FlowDraw:
    """Times (``t``, or a logit-normal draw), noise and prompt dropout for clean latents [B, C, H, W], in that order
    from ``generator``: every generation loss draws through here, so that the same generator gives the same draw."""
    t = sample_logit_normal(latents.shape[0], generator, device=latents.device) if t is None else t.to(latents.device)
    z0 = torch.randn(latents.shape, generator=generator).to(latents)
    z_t, target = rectified_flow_pair(latents, z0, t)
    prompts, dropped = condition_dropout(prefix, pad_id, p_uncond, generator)
    device = latents.device
    prompts = GenerationPrefix(input_ids=prompts.input_ids.to(device), attention_mask=prompts.attention_mask.to(device))
    return FlowDraw(t=t, z_t=z_t, target=target, prompts=prompts, dropped=dropped)


def generation_losses(model: JanusFlowModel, prefix: GenerationPrefix, latents: torch.Tensor,
                      repa_target: torch.Tensor | None, pad_id: int, generator: torch.Generator | None = None,
                      p_uncond: float = 0.1, t: torch.Tensor | None = None) -> GenerationLosses:
    """RF (and REPA, when a target is given) for clean latents [B, C, H, W] and their prompts, in an LLM pass of
    their own; ``t`` defaults to a logit-normal draw."""
    draw = draw_flow(latents, prefix, pad_id, generator, p_uncond, t)
    want_repa = repa_target is not None and model.repa_head is not None
    out = model.velocity(draw.prompts.input_ids, draw.prompts.attention_mask, prefix.attention_mask.to(latents.device),
                         draw.z_t, draw.t, return_repa_features=want_repa)
    repa = repa_loss(model.repa_head(out.repa_features), repa_target) if want_repa else None
    return GenerationLosses(rf=rectified_flow_loss(out.velocity, draw.target), repa=repa, dropped=draw.dropped)
