"""Understanding data from a scene graph: questions with exact answers (colour, count, position, existence),
some asked as multiple choice, captioning requests and multi-turn conversations, in the LLaVA layout
(``from``: human/gpt, ``<image>`` tag).

Most conversations ask several questions about one image, as LLaVA's instruction data does: each image then
teaches several grounded answers for one pass of the understanding encoder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from data.shapes.captions import article, detailed_caption
from data.shapes.scene import COLORS, OPPOSITE, SHAPES, Scene, SceneObject, region, relations, unique_by
from settings.data import CATEGORIES

CAPTION_PROMPTS: tuple[str, ...] = (
    "Generate the caption of this picture.",
    "Describe this image in detail.",
    "What do you see in this picture?",
)
IMAGE_TAG = "<image>"
REGIONS: tuple[str, ...] = ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom",
                            "bottom right")
OPTION_POOLS: dict[str, tuple[str, ...]] = {"color": tuple(COLORS), "count": tuple(str(n) for n in range(5)),
                                            "position": REGIONS}
LETTERS = "ABCDEFGHIJ"
CAPTION_SHARE = 0.2          # captioning requests; the rest are question conversations
SINGLE_QUESTION_SHARE = 0.25  # of the question conversations, those with one question (the rest ask 3-6)
CHOICE_SHARE = 0.25           # questions asked as multiple choice (MMBench's format), answered with a letter
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


def choice_options(qa: QA, rng: np.random.Generator) -> list[str] | None:
    """The answer first, then up to three wrong options of the same kind (the other one for yes/no questions);
    None when the answer is of no known kind."""
    pool = ("yes", "no") if qa.answer in ("yes", "no") else OPTION_POOLS.get(qa.category, ())
    if qa.answer not in pool:
        return None
    wrong = [option for option in pool if option != qa.answer]
    picked = [wrong[i] for i in rng.choice(len(wrong), size=min(3, len(wrong)), replace=False)]
    return [qa.answer, *picked]


def choice_prompt(question_text: str, choices: list[str]) -> str:
    """A multiple-choice question: the question, then one lettered option per line ("A. red")."""
    return "\n".join([question_text] + [f"{LETTERS[i]}. {option}" for i, option in enumerate(choices)])


def as_multiple_choice(qa: QA, rng: np.random.Generator) -> tuple[str, str] | None:
    """(prompt, answer letter) for ``qa`` with its options shuffled; None when it has no option pool."""
    found = choice_options(qa, rng)
    if found is None:
        return None
    order = rng.permutation(len(found))
    shuffled = [found[i] for i in order]
    return choice_prompt(qa.question, shuffled), LETTERS[int(np.flatnonzero(order == 0)[0])]


def questions(scene: Scene, wanted: int, rng: np.random.Generator,
              categories: Sequence[str] = CATEGORIES) -> list[tuple[str, str]]:
    """Up to ``wanted`` distinct (question, answer) turns over random ``categories``, some as multiple choice; at
    least one when ``categories`` holds count or existence, which every scene has."""
    always = next((c for c in ("existence", "count") if c in categories), None)
    turns: dict[str, str] = {}
    for attempt in range(8 * wanted):
        category = str(_choice(rng, list(categories))) if turns or attempt < 4 or always is None else always
        qa = question(scene, category, rng)
        if qa is None:
            continue
        choice = as_multiple_choice(qa, rng) if rng.random() < CHOICE_SHARE else None
        asked, answered = choice if choice is not None else (qa.question, qa.answer)
        turns.setdefault(asked, answered)
        if len(turns) == wanted:
            break
    return list(turns.items())


def conversation(scene: Scene, rng: np.random.Generator) -> list[dict[str, str]]:
    """A LLaVA-style conversation: a captioning request (20%), or questions: one (a quarter of them) or 3-6."""
    if rng.random() < CAPTION_SHARE:
        turns = [(_choice(rng, list(CAPTION_PROMPTS)), detailed_caption(scene, rng))]
    else:
        turns = questions(scene, 1 if rng.random() < SINGLE_QUESTION_SHARE else int(rng.integers(3, 7)), rng)
    messages = []
    for index, (asked, answered) in enumerate(turns):
        messages.append({"from": "human", "value": f"{IMAGE_TAG}\n{asked}" if index == 0 else asked})
        messages.append({"from": "gpt", "value": answered})
    return messages
