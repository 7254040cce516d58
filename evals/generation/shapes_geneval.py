"""The tiny profile's GenEval: GenEval's six tasks and metadata schema, written in the shapes world's words.

Each line is what ``geneval_evaluation_metadata.jsonl`` holds (``tag``, ``include``, ``exclude``, ``prompt``) with
shapes as classes and the palette's ten colours, so ``geneval.judge`` scores it with the official rules. Every
shapes-world caption names its objects' colours, so the prompts do too; ``single_object``, ``two_object``,
``counting`` and ``position`` judge only the classes (and counts and relations), as GenEval does, while
``colors`` and ``color_attr`` also judge the colours. Counts go up to the world's ``max_objects``. Each row also
carries ``scene``, a scene graph that draws exactly what its prompt asks for (``data.shapes.scene.arrange``): the
ground truth whose render is the benchmark's ceiling.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from data.shapes.captions import article
from data.shapes.scene import COLORS, SHAPES, arrange, count_word, plural

TAGS: tuple[str, ...] = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
Asked = tuple[dict, list[tuple[str, str]], str | None]   # metadata row, (shape, colour) drawn, relation of 2nd to 1st


def _named(color: str, shape: str) -> str:
    return f"{article(color)} {color} {shape}"


def _pick(rng: np.random.Generator, items: tuple[str, ...] | list[str], k: int = 1) -> list[str]:
    return [str(items[i]) for i in rng.choice(len(items), size=k, replace=False)]


def single_object(rng: np.random.Generator, max_objects: int) -> Asked:
    (shape,), (color,) = _pick(rng, SHAPES), _pick(rng, list(COLORS))
    return {"include": [{"class": shape, "count": 1}], "prompt": f"a photo of {_named(color, shape)}"}, \
        [(shape, color)], None


def two_object(rng: np.random.Generator, max_objects: int) -> Asked:
    shapes, colors = _pick(rng, SHAPES, 2), _pick(rng, list(COLORS), 2)
    return {"include": [{"class": s, "count": 1} for s in shapes],
            "prompt": f"a photo of {_named(colors[0], shapes[0])} and {_named(colors[1], shapes[1])}"}, \
        list(zip(shapes, colors)), None


def counting(rng: np.random.Generator, max_objects: int) -> Asked:
    (shape,), (color,) = _pick(rng, SHAPES), _pick(rng, list(COLORS))
    n = int(rng.integers(2, max_objects + 1))
    return {"include": [{"class": shape, "count": n}], "exclude": [{"class": shape, "count": n + 1}],
            "prompt": f"a photo of {count_word(n)} {color} {plural(shape, n)}"}, [(shape, color)] * n, None


def colors(rng: np.random.Generator, max_objects: int) -> Asked:
    (shape,), (color,) = _pick(rng, SHAPES), _pick(rng, list(COLORS))
    row = {"include": [{"class": shape, "count": 1, "color": color}], "prompt": f"a photo of {_named(color, shape)}"}
    return row, [(shape, color)], None


def position(rng: np.random.Generator, max_objects: int) -> Asked:
    (anchor, subject), palette, (relation,) = _pick(rng, SHAPES, 2), _pick(rng, list(COLORS), 2), _pick(rng, RELATIONS)
    return {"include": [{"class": anchor, "count": 1}, {"class": subject, "count": 1, "position": [relation, 0]}],
            "prompt": f"a photo of {_named(palette[1], subject)} {relation} {_named(palette[0], anchor)}"}, \
        [(anchor, palette[0]), (subject, palette[1])], relation


def color_attr(rng: np.random.Generator, max_objects: int) -> Asked:
    shapes, palette = _pick(rng, SHAPES, 2), _pick(rng, list(COLORS), 2)
    return {"include": [{"class": s, "count": 1, "color": c} for s, c in zip(shapes, palette)],
            "prompt": f"a photo of {_named(palette[0], shapes[0])} and {_named(palette[1], shapes[1])}"}, \
        list(zip(shapes, palette)), None


MAKERS: dict[str, Callable[[np.random.Generator, int], Asked]] = {
    "single_object": single_object, "two_object": two_object, "counting": counting, "colors": colors,
    "position": position, "color_attr": color_attr,
}


def shapes_geneval(per_tag: int, seed: int, max_objects: int = 4) -> list[dict]:
    """``per_tag`` distinct prompts of each of the six tasks, seeded, in GenEval's metadata schema, each with the
    scene graph of its ground truth (laid out from a second seeded stream, so the prompts do not depend on it)."""
    if per_tag < 1:
        raise ValueError(f"per_tag is {per_tag}; ask for at least one prompt per task.")
    if max_objects < 2:
        raise ValueError(f"max_objects is {max_objects}; counting and two-object prompts need at least 2.")
    rows: list[dict] = []
    for index, tag in enumerate(TAGS):
        rng, layout = np.random.default_rng([seed, index]), np.random.default_rng([seed, index, 1])
        seen: set[str] = set()
        for _ in range(per_tag * 50):
            row, drawn, relation = MAKERS[tag](rng, max_objects)
            if row["prompt"] not in seen:
                seen.add(row["prompt"])
                rows.append({"tag": tag, **row, "scene": arrange(drawn, layout, relation).to_dict()})
            if len(seen) == per_tag:
                break
    return rows


def write_jsonl(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path
