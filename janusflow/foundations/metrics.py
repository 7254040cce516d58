"""Quality metrics of the foundations, as pure functions (tested on hand-made cases)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import torch
from PIL import Image

from data.shapes.detector import detect
from data.shapes.scene import Scene
from janusflow.sampling import to_uint8


def psnr(reconstruction: torch.Tensor, target: torch.Tensor) -> float:
    """Mean per-image PSNR in dB of images in [-1, 1] (peak 1 after mapping to [0, 1])."""
    error = (((reconstruction.clamp(-1, 1) + 1) / 2 - (target + 1) / 2) ** 2).flatten(1).mean(1)
    return float((10 * torch.log10(1.0 / error.clamp_min(1e-10))).mean())


def detected_exactly(images: torch.Tensor, scenes: Sequence[dict]) -> float:
    """Share of ``images`` (in [-1, 1]) in which the shapes world's detector, the tiny GenEval's judge, finds
    exactly the objects of the matching scene graph (colour and shape, as a multiset). On a VAE's
    reconstructions of real renders it is the ceiling that VAE puts on every score the detector gives."""
    if len(images) != len(scenes) or not scenes:
        raise ValueError(f"detected_exactly needs as many scenes as images, at least one (got {len(scenes)} scenes "
                         f"and {len(images)} images).")
    found = 0
    for image, scene in zip(to_uint8(images), scenes):
        expected = Counter((o.color, o.shape) for o in Scene.from_dict(scene).objects)
        found += Counter((o.color, o.shape) for o in detect(Image.fromarray(image.numpy()))) == expected
    return found / len(scenes)


def perplexity(total_nll: float, tokens: int) -> float:
    """exp of the mean negative log-likelihood per predicted token."""
    return math.exp(total_nll / tokens)


def unigram_perplexity(train_tokens: Sequence[int], heldout_tokens: Sequence[int], vocab_size: int) -> float:
    """Perplexity of held-out tokens under add-one-smoothed unigram frequencies of the training tokens: the
    baseline a language model must beat by using context."""
    counts = Counter(train_tokens)
    total = len(train_tokens) + vocab_size
    nll = -sum(math.log((counts[token] + 1) / total) for token in heldout_tokens)
    return perplexity(nll, len(heldout_tokens))


def accuracy(predicted: Sequence, expected: Sequence) -> float:
    if len(predicted) != len(expected) or not expected:
        raise ValueError(f"accuracy needs two equal, non-empty sequences (got {len(predicted)} and {len(expected)}).")
    return sum(p == e for p, e in zip(predicted, expected)) / len(expected)
