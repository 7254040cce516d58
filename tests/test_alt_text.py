"""The encoder's alt-text stream: seeded, training split only, each caption naming every object it shows."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest
import torch

from data.shapes.alt_text import PURPOSE, alt_text_batches
from data.shapes.patch_words import patch_labels
from data.shapes.render import render
from data.shapes.scene import split_of
from data.shapes.world import scenes
from settings.data import ShapesWorldConfig

CONFIG = ShapesWorldConfig(seed=3, resolution=32)


def test_stream_is_seeded_and_endless():
    first = list(islice(alt_text_batches(CONFIG, 4, grid=8), 3))
    again = list(islice(alt_text_batches(CONFIG, 4, grid=8), 3))
    other = next(alt_text_batches(ShapesWorldConfig(seed=4, resolution=32), 4, grid=8))
    assert all(torch.equal(a[0], b[0]) and a[1] == b[1] and torch.equal(a[2], b[2]) for a, b in zip(first, again))
    assert not torch.equal(first[0][0], other[0])
    assert first[0][0].shape == (4, 3, 32, 32) and first[0][0].min() >= -1 and first[0][0].max() <= 1
    assert first[0][1] != first[1][1]


def test_images_are_training_scenes_and_captions_name_every_object():
    images, captions, labels = next(alt_text_batches(CONFIG, 12, grid=8))
    shown = list(scenes(CONFIG, PURPOSE, "train", 12))
    assert labels.shape == (12, 64)
    for image, text, scene, label in zip(images, captions, shown, labels):
        assert label.tolist() == patch_labels(scene, 8)
        assert split_of(scene, CONFIG.eval_fraction) == "train"
        expected = torch.from_numpy(np.asarray(render(scene, 32), dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1
        assert torch.equal(image, expected)
        assert all(o.color in text and o.shape in text for o in scene.objects), (text, scene)


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        next(alt_text_batches(CONFIG, 0, grid=8))
