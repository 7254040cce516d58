"""The JanusFlow model: one LLaMA that reads images (autoregression) and writes them (rectified flow).

Module attribute names are the state-dict prefixes of the released checkpoint, so official weights load with
strict key matching and what we save loads in the official code. ``repa_head`` is ours and optional, and so is
``vision_und_latent_enc_*``: the separate VAE+ConvNeXt understanding encoder of ablation variant C.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn
from transformers import DynamicCache, LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRMSNorm, LlamaRotaryEmbedding

from janusflow.checkpoint import (
    CheckpointMismatchError,
    check_loadable,
    read_config,
    read_state_dict,
    save_pretrained,
)
from janusflow.config import JanusFlowConfig
from janusflow.hub import resolve_checkpoint
from janusflow.modeling.generation_vision import GenerationDecoder, GenerationEncoder
from janusflow.modeling.repa_head import RepaHead
from janusflow.modeling.understanding_encoder import UnderstandingEncoder

T = TypeVar("T")

LATENT_SOURCES = ("shared_generation", "separate_generation")  # understanding encoders that read VAE latents


@dataclass
class LatentTokens:
    """What the generation encoder gives the LLM for one batch of noisy latents."""

    tokens: torch.Tensor  # [B, N, D_llm]: aligned patch features, row-major over the latent grid
    time_embedding: torch.Tensor  # [B, D_llm]: the time token
    skip: torch.Tensor  # [B, C, h, w]: long skip for the decoder


@dataclass
class GenerationOutput:
    velocity: torch.Tensor  # [B, C_latent, H, W]
    repa_features: torch.Tensor | None  # [B, N, D_llm] hidden state after block repa_config.layer


def positions_from_mask(slot_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that count only real (non left-pad) slots, so a left-padded row sees the positions it would
    see alone. Masked slots inside a row (the unconditional branch) still count, as in the official sampler."""
    return (slot_mask.long().cumsum(-1) - 1).clamp(min=0)


class JanusFlowModel(nn.Module):
    """The official ``MultiModalityCausalLM`` layout, plus the REPA head."""

    def __init__(self, config: JanusFlowConfig) -> None:
        super().__init__()
        self.config = config
        self.latent_memory_format: torch.memory_format | None = None   # see to_channels_last
        spec = config.und_encoder_spec()
        llama = config.llama_config()
        hidden = llama.hidden_size
        self.vision_und_enc_model = UnderstandingEncoder(spec)
        self.vision_und_enc_aligner = nn.Linear(spec.width, hidden)
        self.beg_of_und_embed = nn.Parameter(torch.zeros(1, hidden))
        self.vision_gen_enc_model = GenerationEncoder(**config.vision_gen_enc_config.params)
        self.vision_gen_enc_aligner = nn.Linear(config.gen_enc_channels, hidden)
        self.vision_gen_dec_model = GenerationDecoder(**config.vision_gen_dec_config.params)
        self.language_model = LlamaForCausalLM(llama)
        self.vision_gen_dec_aligner_norm = LlamaRMSNorm(hidden, eps=llama.rms_norm_eps)
        self.vision_gen_dec_aligner = nn.Linear(hidden, config.gen_dec_in_channels)
        self.repa_head = (RepaHead(hidden, config.repa_config.hidden_size, config.repa_target_dim)
                          if config.repa_config.enabled else None)
        separate = config.und_encoder_source == "separate_generation"
        # Variant C: the generation encoder's architecture and initial weights, trained for understanding only.
        self.vision_und_latent_enc_model = copy.deepcopy(self.vision_gen_enc_model) if separate else None
        self.vision_und_latent_enc_aligner = copy.deepcopy(self.vision_gen_enc_aligner) if separate else None

    # ----- checkpoint format ------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, directory: str | Path, dtype: torch.dtype | None = None,
                        device: str | torch.device = "cpu") -> JanusFlowModel:
        """Build the model from ``config.json`` and load its weights with strict key and shape matching; a hub id
        reads its snapshot in the local cache. The model is built on the meta device and the tensors are assigned,
        so a 1.3B model never allocates twice."""
        directory = resolve_checkpoint(directory)
        config = read_config(directory)
        state = read_state_dict(directory)
        with torch.device("meta"):
            model = cls(config)
        check_loadable(directory, {k: tuple(v.shape) for k, v in model.state_dict().items()}, state)
        model.load_state_dict(state, strict=False, assign=True)
        if model.repa_head is not None and not any(k.startswith("repa_head.") for k in state):
            model.repa_head = RepaHead(config.llm_hidden_size, config.repa_config.hidden_size, config.repa_target_dim)
        model.language_model.model.rotary_emb = LlamaRotaryEmbedding(config=model.language_model.config)
        still_meta = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
        if still_meta:
            raise CheckpointMismatchError(f"tensors left uninitialised after loading {directory}: {still_meta[:5]}")
        if dtype is not None:
            model.to_dtype(dtype)
        return model.to(device).eval()

    def save_pretrained(self, directory: str | Path, max_shard_size: str | int = "5GB",
                        include_repa_head: bool = True) -> Path:
        return save_pretrained(self, directory, max_shard_size=max_shard_size, include_repa_head=include_repa_head)

    def to_dtype(self, dtype: torch.dtype) -> JanusFlowModel:
        """Cast weights to ``dtype`` but keep the rotary frequencies in float32, as transformers builds them."""
        rotary = self.language_model.model.rotary_emb
        inv_freq = rotary.inv_freq.float()
        self.to(dtype)
        rotary.inv_freq = inv_freq.to(rotary.inv_freq.device)
        return self

    def to_channels_last(self) -> JanusFlowModel:
        """Run the ConvNeXt generation encoder and decoder in channels-last memory format: their convolutions take
        NHWC kernels, and the permutes around their norms and linear layers become views instead of copies. Call it
        before a parallel wrapper flattens the parameters; the weights' values do not change."""
        for module in (self.vision_gen_enc_model, self.vision_gen_dec_model):
            module.to(memory_format=torch.channels_last)
        self.latent_memory_format = torch.channels_last
        return self

    def in_latent_format(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the generation blocks' memory format once ``to_channels_last`` set one; otherwise as it comes
        (the decoder's input is then a view of the LLM's [B, N, C] states, already laid out channels-last)."""
        return x if self.latent_memory_format is None else x.contiguous(memory_format=self.latent_memory_format)

    # ----- distribution and compilation (GPU runs) ---------------------------------------------------------

    def fsdp_wrap_fn(self, module: nn.Module) -> bool:
        """One FSDP unit per LLaMA decoder layer; the rest of the model shards with the root unit. Composer asks the
        module it wraps (this one, the Composer model's child), so the rule lives here."""
        return isinstance(module, LlamaDecoderLayer)

    def activation_checkpointing_fn(self, module: nn.Module) -> bool:
        """With ``training.activation_checkpointing``, decoder layers recompute their activations in backward."""
        return isinstance(module, LlamaDecoderLayer)

    def compile_decoder_layers(self) -> JanusFlowModel:
        """``torch.compile`` each decoder layer on its own (as TorchTitan does): every layer has the same graph, so
        one compilation serves all, and FSDP's per-layer gathers stay outside the compiled code."""
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit,
                                                    2 * len(self.language_model.model.layers))
        for layer in self.language_model.model.layers:
            layer.compile()
        return self

    # ----- running under a parallel wrapper ---------------------------------------------------------------

    def forward(self, compute: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Returns ``compute(*args, **kwargs)``. Training and sampling use several of this model's methods, but
        FSDP gathers (and casts) a wrapped module's parameters only around its ``forward`` and hooks their gradient
        reduction to what that call returns; so a caller hands its whole computation to ``model(compute, ...)``,
        which is a plain call when nothing wraps the model."""
        return compute(*args, **kwargs)

    # ----- shared pieces ----------------------------------------------------------------------------------

    @property
    def dtype(self) -> torch.dtype:
        return self.vision_gen_dec_aligner.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.vision_gen_dec_aligner.weight.device

    @property
    def context_length(self) -> int:
        return int(self.language_model.config.max_position_embeddings)

    def embed_tokens(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.language_model.get_input_embeddings()(input_ids)

    # ----- understanding ----------------------------------------------------------------------------------

    @property
    def understands_latents(self) -> bool:
        """Whether the understanding encoder reads VAE latents (variants B and C) rather than pixels."""
        return self.config.und_encoder_source in LATENT_SOURCES

    def understanding_image_embeddings(self, pixel_values: torch.Tensor,
                                       latents: torch.Tensor | None = None) -> torch.Tensor:
        """[n_images, 3, S, S] in [-1, 1] -> [n_images, N, D_llm] aligned encoder features. With a VAE+ConvNeXt
        understanding encoder (variants B and C) the images' clean VAE latents are encoded at t = 1 instead."""
        source = self.config.und_encoder_source
        if source == "siglip":
            return self.vision_und_enc_aligner(self.vision_und_enc_model(pixel_values.to(self.dtype)))
        if source == "none":
            raise ValueError("this model has no understanding encoder (und_encoder_source 'none', the generation-only "
                             "variant E); it cannot read images.")
        if latents is None:
            raise ValueError(f"und_encoder_source {source!r} reads the images' VAE latents; pass latents= "
                             "(LatentCodec.encode of the same pixel_values).")
        shared = source == "shared_generation"
        encoder = self.vision_gen_enc_model if shared else self.vision_und_latent_enc_model
        aligner = self.vision_gen_enc_aligner if shared else self.vision_und_latent_enc_aligner
        data_end = torch.ones(latents.shape[0], device=latents.device)
        features, _, _ = encoder(latents.to(self.dtype), data_end)
        return aligner(features.flatten(2).transpose(1, 2))

    @torch.no_grad()
    def repa_target(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """REPA's target: the understanding encoder's (SigLIP's) patch features of the clean image, without
        gradient. In variants B, C and E nothing else uses this encoder, so it stays the frozen pretrained one."""
        return self.vision_und_enc_model(pixel_values.to(self.dtype))

    def prepare_inputs_embeds(self, input_ids: torch.Tensor, pixel_values: torch.Tensor | None,
                              image_token_mask: torch.Tensor, image_begin_mask: torch.Tensor,
                              latents: torch.Tensor | None = None) -> torch.Tensor:
        """Token embeddings with image slots filled: each ``<begin_of_image>`` slot takes ``beg_of_und_embed``
        and the placeholder slots take the images' features, in reading order (row by row, left to right)."""
        embeds = self.embed_tokens(input_ids)
        n_slots = int(image_token_mask.sum())
        if pixel_values is None or pixel_values.shape[0] == 0:
            if n_slots:
                raise ValueError(f"input_ids hold {n_slots} image placeholder slots but no pixel_values were given.")
            return embeds
        features = self.understanding_image_embeddings(pixel_values, latents)
        if features.shape[0] * features.shape[1] != n_slots:
            raise ValueError(
                f"{pixel_values.shape[0]} image(s) give {features.shape[0] * features.shape[1]} feature tokens "
                f"but input_ids hold {n_slots} placeholder slots; encode the prompt and images with the same "
                "JanusFlowProcessor (one <image_placeholder> per image)."
            )
        embeds = embeds.clone()
        embeds[image_token_mask] = features.reshape(-1, features.shape[-1]).to(embeds.dtype)
        embeds[image_begin_mask] = self.beg_of_und_embed[0].to(embeds.dtype)
        return embeds

    def understanding_hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                                    pixel_values: torch.Tensor | None, image_token_mask: torch.Tensor,
                                    image_begin_mask: torch.Tensor, latents: torch.Tensor | None = None) -> torch.Tensor:
        """The LLM's last hidden states [B, L, D] (after the final norm) for understanding and text-only sequences:
        the AR loss's input, which applies the LM head only where a response token is predicted. No key-value
        cache is built: nothing decodes after this pass."""
        embeds = self.prepare_inputs_embeds(input_ids, pixel_values, image_token_mask, image_begin_mask, latents)
        return self.language_model.model(inputs_embeds=embeds, attention_mask=attention_mask,
                                         position_ids=positions_from_mask(attention_mask),
                                         use_cache=False).last_hidden_state

    def understanding_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                             pixel_values: torch.Tensor | None, image_token_mask: torch.Tensor,
                             image_begin_mask: torch.Tensor, latents: torch.Tensor | None = None) -> torch.Tensor:
        """Next-token logits [B, L, V] for understanding and text-only sequences."""
        return self.language_model.lm_head(self.understanding_hidden_states(
            input_ids, attention_mask, pixel_values, image_token_mask, image_begin_mask, latents))

    # ----- generation -------------------------------------------------------------------------------------

    def encode_latents(self, z: torch.Tensor, t: torch.Tensor) -> LatentTokens:
        """Noisy latents [B, C, H, W] at times t [B] -> LLM input tokens, time token and decoder skip."""
        features, t_emb, skip = self.vision_gen_enc_model(self.in_latent_format(z.to(self.dtype)), t)
        tokens = self.vision_gen_enc_aligner(features.flatten(2).transpose(1, 2))
        return LatentTokens(tokens=tokens, time_embedding=t_emb, skip=skip)

    def decode_velocity(self, hidden: torch.Tensor, latents: LatentTokens) -> torch.Tensor:
        """LLM last hidden states at the latent slots [B, N, D_llm] (after the LLM's final norm) -> velocity."""
        b, _, h, w = latents.skip.shape
        x = self.vision_gen_dec_aligner(self.vision_gen_dec_aligner_norm(hidden))
        x = self.in_latent_format(x.transpose(1, 2).reshape(b, -1, h, w))
        return self.vision_gen_dec_model(x, latents.skip, latents.time_embedding)

    def generation_step_embeds(self, latents: LatentTokens) -> torch.Tensor:
        """[time token, N latent tokens]: what follows the text prefix at every ODE step."""
        return torch.cat([latents.time_embedding[:, None, :], latents.tokens], dim=1)

    def generation_inputs(self, prefix_ids: torch.Tensor, prefix_attention: torch.Tensor, prefix_slots: torch.Tensor,
                          latents: LatentTokens, cached_prefix: bool = False,
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """LLM inputs for [left-padded text prefix, time token, latent tokens]: embeddings, attention mask and
        position ids. ``cached_prefix``: the embeddings and positions of the new tokens only (the prefix's keys and
        values are in a cache); the mask still covers the prefix."""
        step = self.generation_step_embeds(latents).to(self.dtype)
        ones = torch.ones(step.shape[:2], dtype=prefix_attention.dtype, device=prefix_attention.device)
        attention = torch.cat([prefix_attention, ones], dim=1)
        positions = positions_from_mask(torch.cat([prefix_slots, ones.to(prefix_slots.dtype)], dim=1))
        if cached_prefix:
            return step, attention, positions[:, -step.shape[1]:]
        return torch.cat([self.embed_tokens(prefix_ids), step], dim=1), attention, positions

    def velocity(self, prefix_ids: torch.Tensor, prefix_attention: torch.Tensor, prefix_slots: torch.Tensor,
                 z: torch.Tensor, t: torch.Tensor, return_repa_features: bool = False,
                 past_key_values: DynamicCache | None = None) -> GenerationOutput:
        """Predicted velocity dz/dt for latents z at time t, conditioned on a left-padded text prefix.

        ``prefix_attention`` says which prefix slots are attended to (the unconditional branch keeps only BOS);
        ``prefix_slots`` says which slots are real (not left padding) and sets positions. With
        ``past_key_values`` holding the prefix, only [time token, latent tokens] are computed.
        """
        latents = self.encode_latents(z, t)
        embeds, attention, positions = self.generation_inputs(prefix_ids, prefix_attention, prefix_slots, latents,
                                                              cached_prefix=past_key_values is not None)
        out = self.language_model.model(
            inputs_embeds=embeds, attention_mask=attention, position_ids=positions,
            past_key_values=past_key_values, use_cache=past_key_values is not None,
            output_hidden_states=return_repa_features,
        )
        n_latent = latents.tokens.shape[1]
        velocity = self.decode_velocity(out.last_hidden_state[:, -n_latent:], latents)
        repa = None
        if return_repa_features:
            repa = out.hidden_states[self.config.repa_config.layer][:, -n_latent:]
        return GenerationOutput(velocity=velocity, repa_features=repa)

    def cache_prefix(self, prefix_ids: torch.Tensor, prefix_attention: torch.Tensor,
                     prefix_slots: torch.Tensor) -> DynamicCache:
        """Run the text prefix once and keep its keys and values for every ODE step."""
        cache = DynamicCache()
        self.language_model.model(
            inputs_embeds=self.embed_tokens(prefix_ids), attention_mask=prefix_attention,
            position_ids=positions_from_mask(prefix_slots), past_key_values=cache, use_cache=True,
        )
        return cache
