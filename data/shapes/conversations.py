"""Understanding data from a scene graph: questions with exact answers (colour, count, position, existence),
captioning requests and multi-turn conversations, in the LLaVA layout (``from``: human/gpt, ``<image>`` tag)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from data.shapes.captions import article, detailed_caption
from data.shapes.scene import COLORS, OPPOSITE, SHAPES, Scene, SceneObject, region, relations, unique_by

CATEGORIES: tuple[str, ...] = ("color", "count", "position", "existence")
CAPTION_PROMPTS: tuple[str, ...] = (
    "Generate the caption of this picture.",
    "Describe this image in detail.",
    "What do you see in this picture?",
)
IMAGE_TAG = "<image>"
T = TypeVar("T")


@dataclass(frozen=True)
class QA:
    category: str
    question: str
    answer: str


def _choice(rng: np.random.Generator, items: list[T]) -> T:
    return items[int(rng.integers(len(items)))]


def color_question(scene: Scene, rng: np.random.Generator) -> QA | None:
    unique = [o for o in scene.objects if unique_by(scene, "shape", o.shape) is not None]
    if not unique:
        return None
    obj = _choice(rng, unique)
    return QA("color", f"What color is the {obj.shape}?", obj.color)


def count_question(scene: Scene, rng: np.random.Generator) -> QA:
    if rng.random() < 0.5:
        shape = _choice(rng, list(SHAPES))
        n = sum(o.shape == shape for o in scene.objects)
        return QA("count", f"How many {shape}s are there?", str(n))
    color = _choice(rng, [o.color for o in scene.objects])
    n = sum(o.color == color for o in scene.objects)
    return QA("count", f"How many {color} shapes are there?", str(n))


def position_question(scene: Scene, rng: np.random.Generator) -> QA | None:
    named = [o for o in scene.objects if unique_by(scene, "name", o.name) is not None]
    pairs = [(a, b, sorted(relations(a, b))) for a in named for b in named if a is not b]
    pairs = [(a, b, found) for a, b, found in pairs if found]
    if not pairs or rng.random() < 0.25:
        obj: SceneObject = _choice(rng, list(scene.objects))
        if unique_by(scene, "name", obj.name) is None:
            return None
        return QA("position", f"Where is the {obj.name} in the image?", region(obj))
    a, b, found = _choice(rng, pairs)
    relation = _choice(rng, found)
    if rng.random() < 0.5:
        return QA("position", f"Is the {a.name} {relation} the {b.name}?", "yes")
    return QA("position", f"Is the {a.name} {OPPOSITE[relation]} the {b.name}?", "no")


def existence_question(scene: Scene, rng: np.random.Generator) -> QA:
    present = {o.name for o in scene.objects}
    if rng.random() < 0.5:
        name = _choice(rng, sorted(present))
        answer = "yes"
    else:
        absent = [f"{c} {s}" for c in COLORS for s in SHAPES if f"{c} {s}" not in present]
        name = _choice(rng, absent)
        answer = "no"
    return QA("existence", f"Is there {article(name)} {name} in the image?", answer)


QUESTION_MAKERS = {"color": color_question, "count": count_question, "position": position_question,
                   "existence": existence_question}


def question(scene: Scene, category: str, rng: np.random.Generator) -> QA | None:
    """A question of ``category`` about the scene with its exact answer; None when the scene has no such question
    with an unambiguous answer (for example a colour question when every shape appears twice)."""
    return QUESTION_MAKERS[category](scene, rng)


def conversation(scene: Scene, rng: np.random.Generator) -> list[dict[str, str]]:
    """A LLaVA-style conversation: a captioning request (30%), one question (40%) or 2-4 questions (30%)."""
    roll = rng.random()
    if roll < 0.3:
        turns = [(_choice(rng, list(CAPTION_PROMPTS)), detailed_caption(scene, rng))]
    else:
        wanted = 1 if roll < 0.7 else int(rng.integers(2, 5))
        turns = []
        for category in rng.permutation(list(CATEGORIES)):
            qa = question(scene, str(category), rng)
            if qa is not None:
                turns.append((qa.question, qa.answer))
            if len(turns) == wanted:
                break
    messages = []
    for index, (asked, answered) in enumerate(turns):
        messages.append({"from": "human", "value": f"{IMAGE_TAG}\n{asked}" if index == 0 else asked})
        messages.append({"from": "gpt", "value": answered})
    return messages
