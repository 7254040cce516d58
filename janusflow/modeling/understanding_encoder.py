"""Understanding encoder: a SigLIP ViT in timm's layout (no class token, MAP head kept but unused).

The official checkpoint stores it under ``vision_und_enc_model.vision_tower.*`` with timm parameter names, so we
build timm's own ``VisionTransformer`` and wrap it in a module whose only child is ``vision_tower``.
It starts from SigLIP's own big_vision initialisation (timm ``weight_init="jax"``); timm's default, sized for
width 768, leaves a small tower nearly linear and slow to learn shape.
"""

from __future__ import annotations

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from janusflow.config import UnderstandingEncoderSpec


class UnderstandingEncoder(nn.Module):
    """Maps pixels in [-1, 1] to patch features after the final norm: [B, grid*grid, width]."""

    def __init__(self, spec: UnderstandingEncoderSpec) -> None:
        super().__init__()
        self.spec = spec
        self.vision_tower = VisionTransformer(
            img_size=spec.image_size,
            patch_size=spec.patch_size,
            embed_dim=spec.width,
            depth=spec.layers,
            num_heads=spec.heads,
            mlp_ratio=spec.mlp_ratio,
            class_token=False,
            global_pool="map",
            num_classes=0,
            weight_init="jax",
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        expected = (3, self.spec.image_size, self.spec.image_size)
        if pixel_values.ndim != 4 or tuple(pixel_values.shape[1:]) != expected:
            raise ValueError(
                f"understanding encoder input has shape {tuple(pixel_values.shape)}; expected [batch, "
                f"{expected[0]}, {expected[1]}, {expected[2]}] (RGB, {self.spec.image_size}x{self.spec.image_size}). "
                "Run the images through JanusFlowProcessor.preprocess_images first."
            )
        return self.vision_tower.forward_features(pixel_values)
