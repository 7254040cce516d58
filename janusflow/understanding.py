"""Answering questions about images: the LLM's own ``generate`` (KV cache, greedy or sampled) on embeddings
whose image slots hold the understanding encoder's aligned features. Prompts are left-padded for batching."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from janusflow.modeling.janusflow import JanusFlowModel
from janusflow.processor import JanusFlowProcessor
from janusflow.vae import LatentCodec


@torch.no_grad()
def answer(model: JanusFlowModel, processor: JanusFlowProcessor, conversations: Sequence[Sequence[dict[str, str]]],
           images: Sequence[Sequence[Image.Image]] = (), max_new_tokens: int = 64, do_sample: bool = False,
           temperature: float = 1.0, top_p: float = 1.0, seed: int = 0, codec: LatentCodec | None = None) -> list[str]:
    """One answer per conversation (each ending with a User message); ``images[i]`` belong to conversation i.
    A model whose understanding encoder reads VAE latents (variants B, C) needs ``codec`` to encode the images."""
    batch = processor.chat_batch(conversations, images)
    prompt_length = batch.input_ids.shape[1]
    if prompt_length + max_new_tokens > model.context_length:
        raise ValueError(
            f"prompt of {prompt_length} tokens + max_new_tokens={max_new_tokens} exceeds the LLM context of "
            f"{model.context_length}; shorten the conversation or lower max_new_tokens."
        )
    device = model.device
    pixel_values = batch.pixel_values.to(device) if batch.pixel_values is not None else None
    latents = None
    if pixel_values is not None and model.understands_latents:
        if codec is None:
            raise ValueError(f"this model's understanding encoder ({model.config.und_encoder_source}) reads VAE "
                             "latents; pass codec= (the profile's LatentCodec).")
        with torch.random.fork_rng(devices=[]):
            latents = codec.encode(pixel_values, torch.Generator().manual_seed(seed))
    embeds = model.prepare_inputs_embeds(batch.input_ids.to(device), pixel_values,
                                         batch.image_token_mask.to(device), batch.image_begin_mask.to(device), latents)
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if do_sample else {"do_sample": False}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generated = model.language_model.generate(
            inputs_embeds=embeds, attention_mask=batch.attention_mask.to(device), max_new_tokens=max_new_tokens,
            eos_token_id=processor.eos_id, pad_token_id=processor.pad_id, bos_token_id=processor.bos_id,
            use_cache=True, top_k=None, **sampling,
        )
    return [processor.decode(_until_eos(row.tolist(), processor.eos_id)) for row in generated]


def _until_eos(ids: list[int], eos_id: int) -> list[int]:
    return ids[: ids.index(eos_id)] if eos_id in ids else ids
