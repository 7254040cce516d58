"""Scene graphs of the shapes world: a few flat objects on a plain background, sampled from a seeded RNG.

Coordinates are fractions of the image side, so one scene renders at any resolution. Relations between
objects follow GenEval's rule (centre offset shrunk by 0.1 x the summed box sizes), so captions, questions and
the evaluation detector all agree on what "left of" means. A scene's split (train or eval) is a function of its
quantised content, which makes the held-out split disjoint from training by construction.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond")
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (255, 140, 0),
    "yellow": (250, 220, 20),
    "green": (30, 160, 50),
    "blue": (30, 80, 230),
    "purple": (130, 40, 170),
    "pink": (255, 130, 190),
    "brown": (130, 75, 30),
    "black": (10, 10, 10),
    "white": (250, 250, 250),
}
SIZES: dict[str, float] = {"small": 0.16, "medium": 0.24, "large": 0.34}
BACKGROUNDS: tuple[tuple[int, int, int], ...] = ((128, 128, 128), (140, 140, 132), (116, 120, 128))
POSITION_THRESHOLD = 0.1
OPPOSITE: dict[str, str] = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
SIGNATURE_GRID = 4


@dataclass(frozen=True)
class SceneObject:
    shape: str
    color: str
    size: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the side

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    @property
    def name(self) -> str:
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """A scene graph; ``quality`` below 1 means the render is degraded (blurred) and scores low aesthetically."""

    objects: tuple[SceneObject, ...]
    background: tuple[int, int, int]
    quality: float = 1.0

    def to_dict(self) -> dict:
        return {"objects": [asdict(o) for o in self.objects], "background": list(self.background),
                "quality": self.quality}

    @classmethod
    def from_dict(cls, data: dict) -> Scene:
        objects = tuple(SceneObject(o["shape"], o["color"], o["size"], tuple(o["box"])) for o in data["objects"])
        return cls(objects=objects, background=tuple(data["background"]), quality=float(data.get("quality", 1.0)))


def relations(a: SceneObject, b: SceneObject) -> set[str]:
    """Where ``a`` is relative to ``b``, by GenEval's rule: image y grows downwards, so "above" is dy < 0."""
    offset = np.subtract(a.center, b.center)
    dims = np.add(np.subtract(a.box[2:], a.box[:2]), np.subtract(b.box[2:], b.box[:2]))
    revised = np.maximum(np.abs(offset) - POSITION_THRESHOLD * dims, 0) * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    found = set()
    if dx < -0.5:
        found.add("left of")
    if dx > 0.5:
        found.add("right of")
    if dy < -0.5:
        found.add("above")
    if dy > 0.5:
        found.add("below")
    return found


def region(obj: SceneObject) -> str:
    """The object's cell in a 3x3 grid, as words: "top left", "center", "bottom"..."""
    cx, cy = obj.center
    row = ("top", "", "bottom")[min(2, int(cy * 3))]
    col = ("left", "", "right")[min(2, int(cx * 3))]
    return " ".join(p for p in (row, col) if p) or "center"


def signature(scene: Scene) -> str:
    """The scene's content, quantised (shape, colour, size, coarse grid cell), as a canonical string."""
    cells = []
    for obj in scene.objects:
        cx, cy = obj.center
        cell = (min(SIGNATURE_GRID - 1, int(cx * SIGNATURE_GRID)), min(SIGNATURE_GRID - 1, int(cy * SIGNATURE_GRID)))
        cells.append(f"{obj.shape}:{obj.color}:{obj.size}:{cell[0]}{cell[1]}")
    return "|".join(sorted(cells))


def split_of(scene: Scene, eval_fraction: float) -> str:
    """"eval" for a fixed ``eval_fraction`` of all possible signatures, "train" for the rest."""
    digest = hashlib.sha256(signature(scene).encode()).digest()
    return "eval" if int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction else "train"


def _place(rng: np.random.Generator, side: float, placed: list[tuple[float, float, float, float]],
           gap: float) -> tuple[float, float, float, float] | None:
    for _ in range(50):
        x0, y0 = rng.uniform(0.04, 0.96 - side, size=2)
        box = (float(x0), float(y0), float(x0 + side), float(y0 + side))
        if all(box[2] + gap <= p[0] or p[2] + gap <= box[0] or box[3] + gap <= p[1] or p[3] + gap <= box[1]
               for p in placed):
            return box
    return None


def _place_object(rng: np.random.Generator, shape: str, color: str,
                  boxes: list[tuple[float, float, float, float]]) -> SceneObject | None:
    """A ``shape`` of ``color`` at a random size, placed clear of ``boxes`` (its box is appended); None when it
    does not fit."""
    size = list(SIZES)[rng.integers(len(SIZES))]
    box = _place(rng, SIZES[size], boxes, gap=0.03)
    if box is None:
        return None
    boxes.append(box)
    return SceneObject(shape, color, size, box)


def sample_scene(rng: np.random.Generator, max_objects: int = 4, degraded_fraction: float = 0.0) -> Scene:
    """1..max_objects non-overlapping objects; with probability 1/3 several share one shape and colour, so
    counting questions ("two red circles") have more than one answer."""
    count = int(rng.integers(1, max_objects + 1))
    objects: list[SceneObject] = []
    boxes: list[tuple[float, float, float, float]] = []
    repeat = count > 1 and rng.random() < 1 / 3
    first = (SHAPES[rng.integers(len(SHAPES))], list(COLORS)[rng.integers(len(COLORS))])
    for index in range(count):
        shape, color = first if (repeat and index < 2) or index == 0 else (
            SHAPES[rng.integers(len(SHAPES))], list(COLORS)[rng.integers(len(COLORS))])
        placed = _place_object(rng, shape, color, boxes)
        if placed is not None:
            objects.append(placed)
    background = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    quality = float(rng.uniform(0.2, 0.6)) if rng.random() < degraded_fraction else 1.0
    return Scene(objects=tuple(objects), background=background, quality=quality)


def arrange(objects: list[tuple[str, str]], rng: np.random.Generator, relation: str | None = None,
            background: tuple[int, int, int] = BACKGROUNDS[0]) -> Scene:
    """A clean scene of ``objects`` ((shape, colour) pairs) at random sizes and places, none overlapping; with
    ``relation``, the second object stands in that relation to the first by GenEval's rule. It draws what a
    prompt asks for, e.g. the ground truth a generation benchmark's ceiling is judged on."""
    for _ in range(200):
        boxes: list[tuple[float, float, float, float]] = []
        placed: list[SceneObject] = []
        for shape, color in objects:
            found = _place_object(rng, shape, color, boxes)
            if found is None:
                break
            placed.append(found)
        if len(placed) == len(objects) and (relation is None or relation in relations(placed[1], placed[0])):
            return Scene(objects=tuple(placed), background=background)
    raise ValueError(f"cannot arrange {objects} (relation {relation!r}) without overlap; ask for fewer objects.")


def aesthetic_score(scene: Scene, rng: np.random.Generator) -> float:
    """A LAION-style aesthetic score: clean renders in [5.2, 10] around 6.2, degraded ones in [1, 4.8], so a
    threshold of 5 separates them exactly."""
    if scene.quality >= 1.0:
        return round(float(np.clip(rng.normal(6.2, 0.35), 5.2, 10.0)), 3)
    return round(float(np.clip(rng.normal(2.6 + 2.0 * scene.quality, 0.35), 1.0, 4.8)), 3)


def count_word(n: int) -> str:
    return ("zero", "one", "two", "three", "four", "five", "six")[n] if 0 <= n <= 6 else str(n)


def plural(shape: str, n: int) -> str:
    return shape if n == 1 else shape + "s"


def object_groups(scene: Scene) -> list[tuple[str, str, int]]:
    """(colour, shape, count) for each distinct colour-shape pair, in first-appearance order."""
    counts: dict[tuple[str, str], int] = {}
    for obj in scene.objects:
        counts[(obj.color, obj.shape)] = counts.get((obj.color, obj.shape), 0) + 1
    return [(c, s, n) for (c, s), n in counts.items()]


def unique_by(scene: Scene, key: str, value: str) -> SceneObject | None:
    """The one object whose ``key`` ("shape" or "name") equals ``value``, or None when zero or several do."""
    found = [o for o in scene.objects if (o.shape if key == "shape" else o.name) == value]
    return found[0] if len(found) == 1 else None

