"""The shuffled-image control: every understanding benchmark asked again with each image replaced by another
image of the same set. A model that ignores its image answers the same both ways, so the gap between the own-image
and the shuffled-image score is what the image contributes.

Images are moved as a whole (a seeded derangement of the set's distinct images), so that the questions that share
an image (MMBench's rotations of one question, POPE's questions about one scene) still share one, and no
question keeps its own.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

from evals.understanding.questions import Question

SEED = 0


def image_derangement(images: Sequence[str], seed: int = SEED) -> dict[str, str]:
    """Each distinct image mapped to another one (a seeded shuffle, then one step along it); a set with a single
    image cannot be shuffled."""
    distinct = list(dict.fromkeys(images))
    if len(distinct) < 2:
        raise ValueError(f"the shuffled-image control needs at least two distinct images; got {len(distinct)}.")
    order = distinct[:]
    random.Random(seed).shuffle(order)
    return {image: order[(i + 1) % len(order)] for i, image in enumerate(order)}


def shuffled_images(questions: Sequence[Question], seed: int = SEED) -> list[Question]:
    """The same questions, each asked with another image of the set (``image_derangement``)."""
    moved = image_derangement([q.image for q in questions], seed)
    return [replace(q, image=moved[q.image]) for q in questions]
