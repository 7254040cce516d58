"""The und aligner's fit onto the LLM's slot vectors: weighted least squares on hand-made rows, and the fit on a
small model (deterministic, never worse than the zero map, written into the aligner)."""

from __future__ import annotations

import torch

from data.shapes.world import ShapesWorldConfig
from janusflow.foundations.alignment import align_understanding, least_squares
from janusflow.modeling import JanusFlowModel


def test_least_squares_recovers_a_linear_map_and_weighs_rows():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(50, 3, generator=generator, dtype=torch.float64)
    weight, bias = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]], dtype=torch.float64), torch.tensor([0.25, -1.0], dtype=torch.float64)
    found_weight, found_bias = least_squares(features, features @ weight.T + bias, torch.rand(50, generator=generator, dtype=torch.float64) + 0.1)
    assert torch.allclose(found_weight, weight) and torch.allclose(found_bias, bias)
    same_input = torch.zeros(2, 1, dtype=torch.float64)
    _, mean = least_squares(same_input, torch.tensor([[0.0], [1.0]], dtype=torch.float64), torch.tensor([1.0, 3.0], dtype=torch.float64))
    assert torch.allclose(mean, torch.tensor([0.75], dtype=torch.float64))  # the weighted mean of the two targets


def test_alignment_fits_the_und_aligner_onto_the_slot_vectors(tiny_config, tokenizer):
    world = ShapesWorldConfig(seed=3, resolution=tiny_config.und_encoder_spec().image_size)
    fits = []
    for _ in range(2):
        torch.manual_seed(0)
        model = JanusFlowModel(tiny_config).eval()
        before = model.vision_und_enc_aligner.weight.clone()
        figures = align_understanding(model, tokenizer, world, count=48)
        fits.append((model.vision_und_enc_aligner.weight.clone(), figures))
        assert not torch.equal(before, model.vision_und_enc_aligner.weight)
    (first, figures), (again, repeated) = fits
    assert torch.equal(first, again) and figures == repeated
    assert set(figures) == {"relative_error", "object_patches_nearest_own"}
    assert 0.0 < figures["relative_error"] < 1.0  # better than the zero map, which scores exactly 1
    assert 0.0 <= figures["object_patches_nearest_own"] <= 1.0
