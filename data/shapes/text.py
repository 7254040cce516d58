"""Text-only documents about the shapes world: facts about shapes and colours, and scene descriptions with
counting and spatial reasoning written out, so the language model sees the vocabulary without images."""

from __future__ import annotations

import numpy as np

from data.shapes.captions import detailed_caption, group_phrase, join_phrases
from data.shapes.scene import OPPOSITE, Scene, count_word, object_groups, relations, unique_by

FACTS: tuple[str, ...] = (
    "A circle is round and has no corners.",
    "A square has four equal sides and four right angles.",
    "A triangle has three sides and three corners.",
    "A diamond is a square turned on one of its corners.",
    "Red, orange, yellow, green, blue, purple, pink, brown, black and white are colors.",
    "Mixing red and white gives pink.",
    "Mixing blue and red gives purple.",
    "Mixing yellow and red gives orange.",
    "Something on the left of a picture is closer to its left edge.",
    "Something above another object is closer to the top of the picture.",
)


def reasoning(scene: Scene) -> str:
    """Counting and relations spelled out, for example "Two red circles and a blue square make three shapes."."""
    groups = object_groups(scene)
    total = len(scene.objects)
    parts = [f"{join_phrases([group_phrase(c, s, n) for c, s, n in groups]).capitalize()} make "
             f"{count_word(total)} {'shape' if total == 1 else 'shapes'} in total."]
    named = [o for o in scene.objects if unique_by(scene, "name", o.name) is not None]
    for a in named:
        for b in named:
            if a is not b:
                for relation in sorted(relations(a, b)):
                    parts.append(f"If the {a.name} is {relation} the {b.name}, the {b.name} is "
                                 f"{OPPOSITE[relation]} the {a.name}.")
                    break
    return " ".join(parts[:3])


def document(scene: Scene, rng: np.random.Generator) -> str:
    """One text document: a fact (20%), a described scene (40%) or spelled-out reasoning about one (40%)."""
    roll = rng.random()
    if roll < 0.2:
        return FACTS[int(rng.integers(len(FACTS)))]
    if roll < 0.6:
        return detailed_caption(scene, rng)
    return reasoning(scene)
