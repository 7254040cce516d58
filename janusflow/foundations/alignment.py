"""Where the tiny profile's understanding aligner starts: the linear map that takes the encoder's patch features to
the vectors the LLM foundation learned to read in its image slots (``janusflow.foundations.reading``), fitted by
weighted least squares on rendered training scenes, so that an image reaches the LLM the way the scene written in
words did. Stage 1 then trains the aligner on from there. (JanusFlow's und aligner is one linear layer, so the fit
is closed-form.)"""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerBase

from data.shapes.patch_words import patch_labels
from data.shapes.render import render
from data.shapes.world import scenes
from janusflow.foundations.corpus import image_tensor
from janusflow.foundations.reading import SlotWords, patch_word_vectors
from janusflow.modeling import JanusFlowModel
from settings.data import ShapesWorldConfig

PURPOSE = "alignment"
OBJECT_WEIGHT = 25.0   # an object's centre is about one patch in 25: weigh object and background patches alike


def least_squares(features: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight [out, in], bias [out]) minimising sum_i weights_i * |W features_i + b - targets_i|^2 over rows."""
    root = weights.sqrt()[:, None]
    design = torch.cat([features, torch.ones(len(features), 1, dtype=features.dtype)], 1)
    solution = torch.linalg.lstsq(design * root, targets * root, driver="gelsd").solution  # SVD: rank-safe
    return solution[:-1].T.contiguous(), solution[-1].contiguous()


@torch.no_grad()
def align_understanding(model: JanusFlowModel, tokenizer: PreTrainedTokenizerBase, world: ShapesWorldConfig,
                        count: int = 1024) -> dict[str, float]:
    """Set ``model.vision_und_enc_aligner`` to the least-squares map from the understanding encoder's patches of
    ``count`` rendered training scenes to the LLM's slot vectors of the same scenes; return the fit's weighted
    relative error and the share of object-centre patches whose nearest slot vector is their own."""
    spec = model.config.und_encoder_spec()
    drawn = [scene for scene, _ in zip(scenes(world, PURPOSE, "train", count=None), range(count))]
    pixels = torch.stack([image_tensor(render(scene, spec.image_size)) for scene in drawn])
    features = model.vision_und_enc_model(pixels.to(model.dtype)).flatten(0, 1).float()
    objects = torch.tensor([patch_labels(s, spec.grid) for s in drawn]).flatten()
    vectors = patch_word_vectors(model.language_model.get_input_embeddings(), SlotWords.of(tokenizer).objects).float()
    targets = vectors[objects]
    weights = torch.where(objects > 0, OBJECT_WEIGHT, 1.0)
    weight, bias = least_squares(features, targets, weights)
    model.vision_und_enc_aligner.weight.copy_(weight)
    model.vision_und_enc_aligner.bias.copy_(bias)
    fitted = model.vision_und_enc_aligner(features)
    error = (weights * (fitted - targets).square().sum(1)).sum() / (weights * targets.square().sum(1)).sum().clamp_min(1e-12)
    own = (torch.cdist(fitted[objects > 0], vectors).argmin(1) == objects[objects > 0]).float().mean()
    return {"relative_error": round(float(error.sqrt()), 4), "object_patches_nearest_own": round(float(own), 4)}
