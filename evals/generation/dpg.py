"""DPG-Bench-style scoring of long compositional prompts, judged by the shapes-world detector (tiny profile).

DPG-Bench (Hu et al., 2024) pairs each long prompt with propositions in a CSV (``item_id``, ``proposition_id``,
``dependency``, ``category_broad``, ``category_detailed``, ``tuple``, ``question_natural_language``); a VQA judge
answers each one per image, a proposition whose parent is answered "no" scores 0 (dependency zeroing), an
image's score is the mean over its propositions, a prompt's the mean over its 4 images, and the benchmark's the
mean over prompts, x100. Here the prompt is composed from a held-out scene graph (the detailed-caption phrasing
the model was trained on) together with its propositions, and the judge is the detector: objects are matched to
detections of the same shape (same colour first, then the nearest), and each proposition is checked on its match.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from data.shapes.captions import group_phrase, join_phrases, region_phrase, with_article
from data.shapes.detector import closest
from data.shapes.scene import SIZES, Scene, SceneObject, count_word, object_groups, plural, region, relations, unique_by

CSV_COLUMNS = ("item_id", "text", "proposition_id", "dependency", "category_broad", "category_detailed", "tuple",
               "question_natural_language", "check")


@dataclass(frozen=True)
class Proposition:
    item_id: str
    proposition_id: int
    dependency: tuple[int, ...]      # parent proposition ids; DPG writes "0" for none
    category_broad: str              # entity / attribute / relation / other
    category_detailed: str           # whole / color / size / spatial / count
    semantic_tuple: str              # DPG's "tuple" column
    question: str
    check: dict                      # what the detector verifies: kind + object indices


def compose(scene: Scene, item_id: str, max_relations: int = 2) -> tuple[str, list[Proposition]]:
    """A long prompt for ``scene`` and its propositions, numbered from 1 in the order the prompt states them."""
    props: list[Proposition] = []

    def add(broad: str, detailed: str, what: str, question: str, check: dict, parents: tuple[int, ...] = ()) -> int:
        props.append(Proposition(item_id, len(props) + 1, parents, broad, detailed, what, question, check))
        return len(props)

    total = len(scene.objects)
    sentences = [f"There {'is' if total == 1 else 'are'} {count_word(total)} {plural('shape', total)} in this "
                 "picture: " + join_phrases([group_phrase(c, s, n) for c, s, n in object_groups(scene)]) + "."]
    add("other", "count", f"other - count (shapes, =={total})", f"Are there {count_word(total)} shapes?",
        {"kind": "count", "n": total})
    entity: dict[int, int] = {}
    for index, obj in enumerate(scene.objects):
        sentences.append(f"{with_article(obj, size=True).capitalize()} is {region_phrase(obj)}.")
        entity[index] = add("entity", "whole", f"entity - whole ({obj.shape})", f"Is there a {obj.shape}?",
                            {"kind": "entity", "object": index})
        parent = (entity[index],)
        add("attribute", "color", f"attribute - color ({obj.shape}, {obj.color})",
            f"Is the {obj.shape} {obj.color}?", {"kind": "color", "object": index}, parent)
        add("attribute", "size", f"attribute - size ({obj.shape}, {obj.size})", f"Is the {obj.shape} {obj.size}?",
            {"kind": "size", "object": index}, parent)
        add("relation", "spatial", f"relation - spatial ({obj.shape}, image, {region(obj)})",
            f"Is the {obj.shape} {region_phrase(obj)}?", {"kind": "region", "object": index}, parent)
    named = [i for i, o in enumerate(scene.objects) if unique_by(scene, "name", o.name) is not None]
    stated = 0
    for a, b in zip(named, named[1:]):
        found = sorted(relations(scene.objects[a], scene.objects[b]))
        if not found or stated == max_relations:
            continue
        first, second = scene.objects[a], scene.objects[b]
        sentences.append(f"The {first.name} is {found[0]} the {second.name}.")
        add("relation", "spatial", f"relation - spatial ({first.shape}, {second.shape}, {found[0]})",
            f"Is the {first.name} {found[0]} the {second.name}?",
            {"kind": "relation", "a": a, "b": b, "relation": found[0]}, (entity[a], entity[b]))
        stated += 1
    return " ".join(sentences), props


def size_class(obj: SceneObject) -> str:
    """The named size whose side is nearest the detected box's mean side."""
    side = ((obj.box[2] - obj.box[0]) + (obj.box[3] - obj.box[1])) / 2
    return min(SIZES, key=lambda name: abs(SIZES[name] - side))


def match(objects: Sequence[SceneObject], detections: Sequence[SceneObject]) -> list[SceneObject | None]:
    """Each scene object's detection: an unused one of the same shape, of the same colour if any, nearest
    first; None when no detection of that shape is left."""
    free = list(detections)
    found: list[SceneObject | None] = []
    for obj in objects:
        same_shape = [d for d in free if d.shape == obj.shape]
        pool = [d for d in same_shape if d.color == obj.color] or same_shape
        chosen = closest(pool, obj) if pool else None
        if chosen is not None:
            free.remove(chosen)
        found.append(chosen)
    return found


def verify(check: dict, matched: Sequence[SceneObject | None], detections: Sequence[SceneObject],
           objects: Sequence[SceneObject]) -> bool:
    """Whether one proposition holds in one image."""
    kind = check["kind"]
    if kind == "count":
        return len(detections) == check["n"]
    if kind == "relation":
        a, b = matched[check["a"]], matched[check["b"]]
        return a is not None and b is not None and check["relation"] in relations(a, b)
    found, wanted = matched[check["object"]], objects[check["object"]]
    if found is None:
        return False
    if kind == "entity":
        return True
    if kind == "color":
        return found.color == wanted.color
    if kind == "size":
        return size_class(found) == wanted.size
    if kind == "region":
        return region(found) == region(wanted)
    raise ValueError(f"unknown proposition kind {kind!r}; expected count, entity, color, size, region or relation.")


def zeroed(props: Sequence[Proposition], answers: dict[int, bool]) -> dict[int, float]:
    """DPG's dependency rule: a proposition scores 0 when any of its parents is answered "no"."""
    return {p.proposition_id: float(answers[p.proposition_id] and all(answers[d] for d in p.dependency))
            for p in props}


def score_image(props: Sequence[Proposition], objects: Sequence[SceneObject],
                detections: Sequence[SceneObject]) -> dict[int, float]:
    """Every proposition's score on one image, after dependency zeroing."""
    matched = match(objects, detections)
    return zeroed(props, {p.proposition_id: verify(p.check, matched, detections, objects) for p in props})


def summarize(per_image: Iterable[tuple[str, Sequence[Proposition], dict[int, float]]]) -> dict[str, float]:
    """DPG score (x100): mean over prompts of the mean over their images of the mean proposition score; plus
    the same per ``category_broad`` (pooled over propositions)."""
    by_item: dict[str, list[float]] = {}
    by_category: dict[str, list[float]] = {}
    for item_id, props, scores in per_image:
        by_item.setdefault(item_id, []).append(sum(scores.values()) / len(scores))
        for p in props:
            by_category.setdefault(p.category_broad, []).append(scores[p.proposition_id])
    if not by_item:
        raise ValueError("no DPG results to summarize.")
    overall = sum(sum(v) / len(v) for v in by_item.values()) / len(by_item)
    return {"dpg_score": round(100 * overall, 2),
            **{f"dpg_{name}": round(100 * sum(v) / len(v), 2) for name, v in sorted(by_category.items())}}


def write_items(scenes: Sequence[tuple[str, Scene]], prompts_path: Path, questions_path: Path) -> int:
    """DPG's two files for ``(item_id, scene)`` pairs: ``{"item_id", "prompt"}`` lines (plus the scene graph the
    judge matches against) and the proposition CSV (plus our ``check`` column). Returns the proposition count."""
    prompts_path.parent.mkdir(parents=True, exist_ok=True)
    lines, written = [], 0
    with questions_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for item_id, scene in scenes:
            prompt, props = compose(scene, item_id)
            lines.append(json.dumps({"item_id": item_id, "prompt": prompt, "scene": scene.to_dict()}) + "\n")
            for p in props:
                writer.writerow([item_id, prompt, p.proposition_id, ",".join(map(str, p.dependency)) or "0",
                                 p.category_broad, p.category_detailed, p.semantic_tuple, p.question,
                                 json.dumps(p.check)])
            written += len(props)
    prompts_path.write_text("".join(lines))
    return written


def read_questions(path: Path) -> dict[str, list[Proposition]]:
    """The proposition CSV back, grouped by item."""
    if not path.is_file():
        raise FileNotFoundError(f"no DPG question file at {path}; write it with evals.generation.dpg.write_items.")
    grouped: dict[str, list[Proposition]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            dependency = tuple(int(d) for d in row["dependency"].split(",") if d and d != "0")
            grouped.setdefault(row["item_id"], []).append(Proposition(
                row["item_id"], int(row["proposition_id"]), dependency, row["category_broad"],
                row["category_detailed"], row["tuple"], row["question_natural_language"], json.loads(row["check"])))
    return grouped
