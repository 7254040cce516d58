"""The understanding encoder's own pretraining corpus: an endless, seeded stream of training-split scenes with
alt-text captions, the way SigLIP pretrains on web image/alt-text pairs (WebLI) rather than on JanusFlow's data.

Alt text is the short, GenEval-style caption ("a photo of a red circle and a blue square"): it names every
object's colour and shape and nothing else. Contrastive learning needs both properties at this scale: on the
3.7k generation pairs, whose captions are mostly multi-sentence descriptions, a tiny dual encoder never learns
shape (34-40% zero-shot, chance 25%; docs/foundations.md), while on this stream it does.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from data.shapes.captions import short_caption
from data.shapes.patch_words import patch_labels
from data.shapes.render import render
from data.shapes.world import scenes, world_rng
from settings.data import ShapesWorldConfig

PURPOSE = "alt_text"


def alt_text_batches(config: ShapesWorldConfig, batch_size: int,
                     grid: int) -> Iterator[tuple[torch.Tensor, list[str], torch.Tensor]]:
    """Batches of (images [B, 3, R, R] in [-1, 1], alt-text captions, patch-word labels [B, grid * grid] for the
    dense objective, on the encoder's ``grid`` x ``grid`` patches), never ending; the same for the same ``config.seed``. Held-out scene signatures never appear
    (``scene.split_of``)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    captions_rng = world_rng(config, PURPOSE, "plan")
    stream = scenes(config, PURPOSE, "train", count=None)
    while True:
        images, captions, labels = [], [], []
        for scene in (next(stream) for _ in range(batch_size)):
            pixels = np.asarray(render(scene, config.resolution), dtype=np.float32)
            images.append(torch.from_numpy(pixels).permute(2, 0, 1) / 127.5 - 1.0)
            captions.append(short_caption(scene, captions_rng))
            labels.append(patch_labels(scene, grid))
        yield torch.stack(images), captions, torch.tensor(labels)
