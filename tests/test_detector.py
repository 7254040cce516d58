"""The shapes-world detector: exact on ground-truth renders of held-out scenes, shape rules on hand-made masks."""

from __future__ import annotations

import numpy as np
from PIL import Image

from data.shapes.detector import classify_shape, detect, ground_truth_agreement
from data.shapes.render import render
from data.shapes.scene import SceneObject
from data.shapes.world import scenes
from settings.data import ShapesWorldConfig


def test_detector_is_exact_on_held_out_renders():
    """At least 99% of held-out scenes (64 px) come back with exactly their objects (shape and colour), and at
    least 99% of object pairs keep their GenEval relation. (On the tiny profile's 1,024 held-out scenes: 100%
    and 99.7%.)"""
    held_out = list(scenes(ShapesWorldConfig(seed=5), "eval", "eval", 200))
    result = ground_truth_agreement([s.objects for s in held_out], [detect(render(s, 64)) for s in held_out], 64)
    assert result["exact_rate"] >= 0.99 and result["relation_agreement"] >= 0.99
    assert result["box_error_px_median"] < 0.5


def test_agreement_counts_a_missed_object_and_a_wrong_relation():
    left = SceneObject("circle", "red", "small", (0.1, 0.4, 0.3, 0.6))
    right = SceneObject("square", "blue", "small", (0.6, 0.4, 0.8, 0.6))
    below = SceneObject("square", "blue", "small", (0.1, 0.75, 0.3, 0.95))   # same object, found under the circle
    result = ground_truth_agreement([[left, right], [left, right], [left, right]],
                                    [[left, right], [left], [left, below]], 64)
    assert result["exact_scenes"] == 2 and result["exact_rate"] == round(2 / 3, 4)  # a miss is not exact
    assert result["pairs"] == 4 and result["relation_agreement"] == 0.5            # "left of" became "above"


def test_shape_rules_on_hand_made_masks():
    y, x = np.mgrid[0:20, 0:20] + 0.5
    assert classify_shape(np.ones((20, 20), dtype=bool)) == "square"
    assert classify_shape((x - 10) ** 2 + (y - 10) ** 2 <= 100) == "circle"
    assert classify_shape(np.abs(x - 10) <= y / 2) == "triangle"  # apex at the top, base at the bottom
    assert classify_shape(np.abs(x - 10) + np.abs(y - 10) <= 10) == "diamond"


def test_a_plain_background_has_no_objects():
    assert detect(Image.new("RGB", (64, 64), (128, 128, 128))) == []
