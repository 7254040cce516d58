"""The und aligner's fit onto the LLM's slot vectors: weighted least squares on hand-made rows, and the fit on a
small model (deterministic, written into the aligner, the optimum of the weighted error it reports)."""

from __future__ import annotations

import torch

from data.shapes.patch_words import patch_labels
from data.shapes.render import render
from data.shapes.world import scenes
from janusflow.foundations.alignment import OBJECT_WEIGHT, PURPOSE, align_understanding, least_squares
from janusflow.foundations.corpus import image_tensor
from janusflow.foundations.reading import SlotWords, patch_word_vectors
from janusflow.modeling import JanusFlowModel
from settings.data import ShapesWorldConfig


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
        fits.append((model, figures))
        assert not torch.equal(before, model.vision_und_enc_aligner.weight)
    (model, figures), (again, repeated) = fits
    assert torch.equal(model.vision_und_enc_aligner.weight, again.vision_und_enc_aligner.weight) and figures == repeated
    assert set(figures) == {"relative_error", "object_patches_nearest_own"}

    # The written aligner is the weighted least-squares optimum: its error is the one reported, and moving its
    # weights either way makes the fit worse.
    grid = tiny_config.und_encoder_spec().grid
    drawn = [scene for scene, _ in zip(scenes(world, PURPOSE, "train", count=None), range(48))]
    with torch.no_grad():
        features = model.vision_und_enc_model(torch.stack([image_tensor(render(s, 64)) for s in drawn])).flatten(0, 1)
        labels = torch.tensor([patch_labels(s, grid) for s in drawn]).flatten()
        targets = patch_word_vectors(model.language_model.get_input_embeddings(), SlotWords.of(tokenizer).objects)[labels]
    weights = torch.where(labels > 0, OBJECT_WEIGHT, 1.0)

    def error(weight: torch.Tensor) -> float:
        fitted = features @ weight.T + model.vision_und_enc_aligner.bias
        return float(((weights * (fitted - targets).square().sum(1)).sum() / (weights * targets.square().sum(1)).sum()).sqrt())

    fitted = model.vision_und_enc_aligner.weight.detach()
    assert abs(error(fitted) - figures["relative_error"]) < 1e-4 and figures["relative_error"] < 1.0
    nudge = 1e-2 * torch.randn(fitted.shape, generator=torch.Generator().manual_seed(1))
    assert error(fitted + nudge) > error(fitted) and error(fitted - nudge) > error(fitted)
