"""Captions for a scene graph: short GenEval-style phrasings and detailed multi-sentence descriptions."""

from __future__ import annotations

import numpy as np

from data.shapes.scene import Scene, SceneObject, count_word, object_groups, plural, region, relations, unique_by


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def with_article(obj: SceneObject, size: bool = False) -> str:
    words = f"{obj.size} {obj.name}" if size else obj.name
    return f"{article(words)} {words}"


def group_phrase(color: str, shape: str, n: int) -> str:
    words = f"{color} {plural(shape, n)}"
    return f"{article(words)} {words}" if n == 1 else f"{count_word(n)} {words}"


def join_phrases(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def region_phrase(obj: SceneObject) -> str:
    where = region(obj)
    if where == "center":
        return "in the center"
    if where in ("top", "bottom"):
        return f"at the {where}"
    if where in ("left", "right"):
        return f"on the {where}"
    return f"in the {where}"


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def short_caption(scene: Scene, rng: np.random.Generator) -> str:
    """One short sentence in GenEval's phrasing: "a photo of two red circles", "a blue square left of ..."."""
    groups = object_groups(scene)
    objects = scene.objects
    if len(groups) == 1:
        color, shape, n = groups[0]
        if n == 1:
            return _pick(rng, [f"a photo of {with_article(objects[0])}", with_article(objects[0])])
        return f"a photo of {group_phrase(color, shape, n)}"
    if len(objects) == 2:
        a, b = objects
        found = sorted(relations(a, b))
        if found and rng.random() < 0.6:
            return f"a photo of {with_article(a)} {_pick(rng, found)} {with_article(b)}"
        return f"a photo of {with_article(a)} and {with_article(b)}"
    return "a photo of " + join_phrases([group_phrase(c, s, n) for c, s, n in groups])


def detailed_caption(scene: Scene, rng: np.random.Generator) -> str:
    """Several sentences: what is there, where each object is, how some are placed relative to each other."""
    objects = scene.objects
    total = len(objects)
    noun = plural("shape", total)
    sentences = [_pick(rng, [
        f"The image shows {count_word(total)} {noun} on a plain gray background.",
        f"A plain gray background with {count_word(total)} flat {noun}.",
        f"There {'is' if total == 1 else 'are'} {count_word(total)} {noun} in this picture: "
        + join_phrases([group_phrase(c, s, n) for c, s, n in object_groups(scene)]) + ".",
    ])]
    for obj in objects:
        sentences.append(_pick(rng, [
            f"{with_article(obj, size=True).capitalize()} is {region_phrase(obj)}.",
            f"{region_phrase(obj).capitalize()} there is {with_article(obj, size=True)}.",
        ]))
    named = [o for o in objects if unique_by(scene, "name", o.name) is not None]
    for a, b in list(zip(named, named[1:]))[:2]:
        found = sorted(relations(a, b))
        if found:
            sentences.append(f"The {a.name} is {_pick(rng, found)} the {b.name}.")
    if scene.quality < 1.0:
        sentences.append("The picture is blurry.")
    return " ".join(sentences)


def caption(scene: Scene, rng: np.random.Generator, short_fraction: float = 0.25) -> str:
    """A short caption with probability ``short_fraction`` (the paper's quarter), otherwise a detailed one."""
    return short_caption(scene, rng) if rng.random() < short_fraction else detailed_caption(scene, rng)
