"""The ConvNeXt generation encoder/decoder: hand-checked pieces and shapes."""

from __future__ import annotations

import math

import pytest
import torch

from janusflow.modeling.generation_vision import ConvNextBlock, GenerationDecoder, GenerationEncoder, GlobalResponseNorm


def test_global_response_norm_matches_hand_computation():
    grn = GlobalResponseNorm(2)
    with torch.no_grad():
        grn.weight.fill_(0.5)
        grn.bias.fill_(0.1)
    x = torch.tensor([[[[3.0, 0.0]], [[4.0, 1.0]]]])  # [B=1, H=2, W=1, C=2]
    gx = torch.tensor([5.0, 1.0])  # L2 norm over H, W per channel
    nx = gx / (gx.mean() + 1e-6)
    expected = 0.5 * (x * nx) + 0.1 + x
    assert torch.allclose(grn(x), expected)


def test_time_embedding_is_cos_first_sinusoid_of_t_times_1000():
    enc = GenerationEncoder(block_out_channels=[8], hidden_size=16)
    proj = enc.time_proj(torch.tensor([0.25]) * 1000)
    freqs = torch.exp(-math.log(10000) * torch.arange(4) / 4)
    assert torch.allclose(proj[0, :4], torch.cos(250 * freqs), atol=1e-5)
    assert torch.allclose(proj[0, 4:], torch.sin(250 * freqs), atol=1e-5)
    assert torch.allclose(enc.embed_time(torch.tensor([0.25]), torch.float32), enc.time_embed(proj))


def test_convnext_block_modulates_after_the_residual():
    block = ConvNextBlock(channels=4, hidden_size=6, norm_eps=1e-6, use_bias=True)
    x, cond = torch.randn(2, 4, 5, 5), torch.randn(2, 6)
    with torch.no_grad():
        block.channelwise_linear_2.weight.zero_()
        block.channelwise_linear_2.bias.zero_()  # the residual branch adds nothing: out = x * (1 + scale) + shift
    scale, shift = block.cond_embeds_mapper(torch.nn.functional.silu(cond)).chunk(2, dim=1)
    expected = x * (1 + scale[:, :, None, None]) + shift[:, :, None, None]
    assert torch.allclose(block(x, cond), expected, atol=1e-6)
    assert block.depthwise.kernel_size == (7, 7) and block.depthwise.groups == 4


def test_encoder_decoder_shapes_and_skip():
    enc = GenerationEncoder(input_channels=4, block_out_channels=[16], hidden_size=24)
    dec = GenerationDecoder(in_channels=16, out_channels=4, block_out_channels=[16], hidden_size=24)
    z = torch.randn(3, 4, 12, 12)
    features, t_emb, skip = enc(z, torch.rand(3))
    assert features.shape == (3, 16, 6, 6) and t_emb.shape == (3, 24) and skip is features
    assert dec(torch.randn(3, 16, 6, 6), skip, t_emb).shape == (3, 4, 12, 12)
    assert dec.out_convs[0].unpatch_conv.weight.shape == (16, 32, 1, 1)


def test_encoder_rejects_wrong_latents():
    enc = GenerationEncoder(input_channels=4, block_out_channels=[8], hidden_size=8)
    with pytest.raises(ValueError, match=r"input has shape \(1, 3, 8, 8\); expected VAE latents \[batch, 4, H, W\]"):
        enc(torch.randn(1, 3, 8, 8), torch.rand(1))
