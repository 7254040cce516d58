"""Generation encoder and decoder around the LLM: the shallow ConvNeXt "U-ViT" of JanusFlow.

Encoder: latent [B, 4, H, W] -> patchify conv (k=2, s=2) -> ConvNeXt blocks modulated by the time embedding ->
features [B, C, H/2, W/2] (also kept as the long skip), plus the time embedding [B, D_llm] that becomes the
time token of the LLM sequence. Decoder: LLM features mapped back to C channels -> RMSNorm -> concatenate the
skip (2C channels) -> ConvNeXt blocks -> RMSNorm + 1x1 conv + PixelShuffle(2) -> velocity [B, 4, H, W].

Attribute names follow the official checkpoint (``time_embed``, ``in_conv``, ``mid_block.res_blocks``,
``input_norm``, ``out_convs``); the time embedding is diffusers' Timesteps + TimestepEmbedding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from torch import nn
from transformers.models.llama.modeling_llama import LlamaRMSNorm

TIME_SCALE = 1000.0  # t in [0, 1] is embedded as the sinusoid of t * 1000, as the official sampler feeds it.


class GlobalResponseNorm(nn.Module):
    """ConvNeXt-V2 global response norm over a channels-last map; ``weight``/``bias`` are the checkpoint names."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.bias = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.weight * (x * nx) + self.bias + x


class ConvNextBlock(nn.Module):
    """Time-modulated ConvNeXt block: depthwise 7x7, RMSNorm, Linear(c->4c), exact GELU, GRN, Linear(4c->c),
    residual add, then ``x * (1 + scale) + shift`` with (scale, shift) = Linear(SiLU(t_emb)).

    diffusers' U-ViT block has the same structure but a 3x3 kernel and GRN parameters named gamma/beta, which
    would not load the official weights, so the block is spelled out here.
    """

    def __init__(self, channels: int, hidden_size: int, norm_eps: float, use_bias: bool, ffn_factor: int = 4) -> None:
        super().__init__()
        inner = channels * ffn_factor
        self.depthwise = nn.Conv2d(channels, channels, kernel_size=7, padding=3, groups=channels, bias=use_bias)
        self.norm = LlamaRMSNorm(channels, eps=norm_eps)
        self.channelwise_linear_1 = nn.Linear(channels, inner, bias=use_bias)
        self.channelwise_act = nn.GELU()
        self.channelwise_norm = GlobalResponseNorm(inner)
        self.channelwise_linear_2 = nn.Linear(inner, channels, bias=use_bias)
        self.cond_embeds_mapper = nn.Linear(hidden_size, channels * 2, bias=use_bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.depthwise(x).permute(0, 2, 3, 1))
        h = self.channelwise_linear_2(self.channelwise_norm(self.channelwise_act(self.channelwise_linear_1(h))))
        x = x + h.permute(0, 3, 1, 2)
        scale, shift = self.cond_embeds_mapper(F.silu(cond)).chunk(2, dim=1)
        return x * (1 + scale[:, :, None, None]) + shift[:, :, None, None]


class MidBlock(nn.Module):
    """A stack of ConvNeXt blocks sharing one conditioning embedding (official name: ``mid_block``)."""

    def __init__(self, channels: int, num_blocks: int, hidden_size: int, norm_eps: float, use_bias: bool) -> None:
        super().__init__()
        self.res_blocks = nn.ModuleList(
            ConvNextBlock(channels, hidden_size, norm_eps, use_bias) for _ in range(num_blocks)
        )

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        for block in self.res_blocks:
            x = block(x, cond)
        return x


def _channels_last_norm(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class GenerationEncoder(nn.Module):
    """Official ``ShallowUViTEncoder``: latent -> (features, time embedding, skip)."""

    def __init__(self, input_channels: int = 4, block_out_channels: list[int] | tuple[int, ...] = (768,),
                 hidden_size: int = 2048, kernel_size: int = 2, stride: int = 2, padding: int = 0,
                 layers_in_middle: int = 2, norm_eps: float = 1e-6, use_bias: bool = True,
                 use_mid_block: bool = True, **_official_unused: object) -> None:
        super().__init__()
        channels = int(block_out_channels[-1])
        self.input_channels = input_channels
        self.patch_size = stride
        self.time_proj = Timesteps(int(block_out_channels[0]), flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(int(block_out_channels[0]), hidden_size, sample_proj_bias=use_bias)
        self.in_conv = nn.Conv2d(input_channels, channels, kernel_size=kernel_size, stride=stride, padding=padding)
        self.mid_block = (MidBlock(channels, layers_in_middle, hidden_size, norm_eps, use_bias)
                          if use_mid_block else None)

    def embed_time(self, t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """t in [0, 1] (0 = noise, 1 = data) -> [B, hidden_size]."""
        return self.time_embed(self.time_proj(t.flatten().float() * TIME_SCALE).to(dtype))

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if z.ndim != 4 or z.shape[1] != self.input_channels or z.shape[-1] % self.patch_size:
            raise ValueError(
                f"generation encoder input has shape {tuple(z.shape)}; expected VAE latents [batch, "
                f"{self.input_channels}, H, W] with H and W divisible by {self.patch_size}."
            )
        t_emb = self.embed_time(t, z.dtype)
        x = self.in_conv(z)
        if self.mid_block is not None:
            x = self.mid_block(x, t_emb)
        return x, t_emb, x


class UnpatchifyHead(nn.Module):
    """RMSNorm over channels, 1x1 conv to out*p*p channels, PixelShuffle(p) (official ``out_convs`` entry)."""

    def __init__(self, in_channels: int, out_channels: int, patch_size: int, norm_eps: float, use_bias: bool) -> None:
        super().__init__()
        self.norm = LlamaRMSNorm(in_channels, eps=norm_eps)
        self.unpatch_conv = nn.Conv2d(in_channels, out_channels * patch_size * patch_size, kernel_size=1,
                                      bias=use_bias)
        self.pixel_shuffle = nn.PixelShuffle(patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pixel_shuffle(self.unpatch_conv(_channels_last_norm(self.norm, x)))


class GenerationDecoder(nn.Module):
    """Official ``ShallowUViTDecoder``: (LLM features, skip, time embedding) -> velocity in latent space."""

    def __init__(self, in_channels: int = 768, out_channels: int = 4,
                 block_out_channels: list[int] | tuple[int, ...] = (768,), upsamples: int = 1,
                 layers_in_middle: int = 2, hidden_size: int = 2048, norm_eps: float = 1e-6, use_bias: bool = True,
                 use_mid_block: bool = True, **_official_unused: object) -> None:
        super().__init__()
        channels = int(block_out_channels[-1])
        self.input_norm = LlamaRMSNorm(in_channels, eps=norm_eps)
        self.mid_block = (MidBlock(in_channels + channels, layers_in_middle, hidden_size, norm_eps, use_bias)
                          if use_mid_block else None)
        self.out_convs = nn.ModuleList(
            UnpatchifyHead(
                in_channels + channels if rank == 0 else channels,
                out_channels if rank == upsamples - 1 else channels,
                2, norm_eps, use_bias,
            )
            for rank in range(upsamples)
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        x = torch.cat([_channels_last_norm(self.input_norm, x), skip], dim=1)
        if self.mid_block is not None:
            x = self.mid_block(x, t_emb)
        for head in self.out_convs:
            x = head(x)
        return x
