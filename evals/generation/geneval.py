"""GenEval's scoring rules (Ghosh et al., 2023) applied to detected objects.

A prompt's metadata (``tag``, ``include``, ``exclude``, with ``class``, ``count``, ``color`` and ``position``)
is judged against the objects found in an image, as the official ``evaluate_images.py`` does: every included
class needs at least ``count`` detections (the first ``count`` are checked for colour, and each must stand in the
named relation to every object matched by the referenced group); an excluded class must have fewer than
``count`` detections (counting prompts exclude ``N + 1``). Relative position uses GenEval's rule with threshold
0.1 (``data.shapes.scene.relations``). The overall score is the mean of the per-tag means.

Detections are ``SceneObject``s (class = shape, colour, box in fractions of the image side); for the paper
profile the official evaluator runs on our images instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from data.shapes.scene import SceneObject, relations


@dataclass(frozen=True)
class Verdict:
    correct: bool
    reasons: tuple[str, ...]


def judge(detections: Sequence[SceneObject], metadata: dict) -> Verdict:
    """Whether one image satisfies its prompt's metadata, with the reasons when it does not."""
    by_class: dict[str, list[SceneObject]] = defaultdict(list)
    for obj in detections:
        by_class[obj.shape].append(obj)
    reasons: list[str] = []
    matched_groups: list[list[SceneObject] | None] = []
    for req in metadata.get("include", []):
        name, count = req["class"], int(req["count"])
        found = by_class.get(name, [])[:count]
        matched = len(found) >= count
        if not matched:
            reasons.append(f"expected {name}>={count}, found {len(found)}")
        else:
            if "color" in req and [o.color for o in found].count(req["color"]) < count:
                matched = False
                reasons.append(f"expected {req['color']} {name}>={count}, found "
                               f"{[o.color for o in found].count(req['color'])} {req['color']}; and "
                               + ", ".join(o.color for o in found))
            if "position" in req and matched:
                relation, group = req["position"]
                targets = matched_groups[group]
                if targets is None:
                    matched = False
                    reasons.append(f"no target for {name} to be {relation}")
                else:
                    for obj in found:
                        wrong = next((t for t in targets if relation not in relations(obj, t)), None)
                        if wrong is not None:
                            matched = False
                            reasons.append(f"expected {name} {relation} target, found "
                                           f"{' and '.join(sorted(relations(obj, wrong))) or 'no relation'}")
                            break
        matched_groups.append(found if matched else None)
    for req in metadata.get("exclude", []):
        name, count = req["class"], int(req["count"])
        if len(by_class.get(name, [])) >= count:
            reasons.append(f"expected {name}<{count}, found {len(by_class[name])}")
    return Verdict(correct=not reasons, reasons=tuple(reasons))


def summarize(results: Iterable[tuple[str, bool]]) -> dict[str, float]:
    """Per-tag accuracy from (tag, correct) pairs, and ``overall``: the mean of the tag means."""
    by_tag: dict[str, list[bool]] = defaultdict(list)
    for tag, correct in results:
        by_tag[tag].append(correct)
    if not by_tag:
        raise ValueError("no GenEval results to summarize.")
    scores = {tag: sum(oks) / len(oks) for tag, oks in sorted(by_tag.items())}
    return {**scores, "overall": sum(scores.values()) / len(scores)}


def bootstrap_intervals(results: Sequence[tuple[str, str, bool]], draws: int = 2000, level: float = 0.95,
                        seed: int = 0) -> dict[str, tuple[float, float]]:
    """Percentile intervals of each task's score and of ``overall`` from (tag, prompt, correct) rows, when each
    task's prompts are drawn again with replacement (a prompt keeps all its images): the spread that comes from
    which prompts happened to be asked, which differences between checkpoints must exceed to mean anything."""
    by_tag: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for tag, prompt, correct in results:
        by_tag[tag][prompt].append(bool(correct))
    if not by_tag:
        raise ValueError("no GenEval results to bootstrap.")
    rng = np.random.default_rng(seed)
    drawn: dict[str, np.ndarray] = {}
    for tag, prompts in sorted(by_tag.items()):
        hits = np.array([sum(v) for v in prompts.values()], dtype=float)
        images = np.array([len(v) for v in prompts.values()], dtype=float)
        picks = rng.integers(len(hits), size=(draws, len(hits)))
        drawn[tag] = hits[picks].sum(1) / images[picks].sum(1)
    drawn["overall"] = np.mean(list(drawn.values()), axis=0)
    tail = (1 - level) / 2
    return {tag: (float(np.quantile(v, tail)), float(np.quantile(v, 1 - tail))) for tag, v in drawn.items()}
