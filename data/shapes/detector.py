"""A deterministic object detector for shapes-world images: the judge of the tiny profile's GenEval and DPG.

Pixels whose colour is (almost exactly) one of the ten palette colours are grouped per colour into 4-connected
components; anti-aliased edge pixels, which blend an object with the background, belong to none and keep
neighbouring objects apart. Each component large enough to be an object is classified by its silhouette: the
share of its bounding box it fills (square about 1, circle about pi/4, triangle and diamond about 1/2) and,
between the last two, where its widest row lies: at the bottom (a triangle standing on its base) or in the
middle (a diamond).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from data.shapes.scene import COLORS, SceneObject, relations

PALETTE = np.array(list(COLORS.values()), dtype=np.float32)
NAMES = list(COLORS)
PURE_DISTANCE = 24.0   # RGB distance within which a pixel counts as a palette colour
MIN_PIXELS = 6         # smaller components are edge noise


def classify_shape(mask: np.ndarray) -> str:
    """circle / square / triangle / diamond from a component's boolean mask (cropped to its bounding box)."""
    fill = mask.mean()
    if fill > 0.9:
        return "square"
    if fill > 0.68:
        return "circle"
    widths = mask.sum(axis=1)
    widest = np.flatnonzero(widths == widths.max()).mean() / max(1, len(widths) - 1)
    return "triangle" if widest > 0.75 else "diamond"


def _coverage(pixels: np.ndarray, color: np.ndarray, background: np.ndarray) -> np.ndarray:
    """How much of each pixel an object of ``color`` covers, from where the pixel lies between the background
    and that colour (anti-aliasing mixes them in proportion to the area covered)."""
    direction = color - background
    return np.clip((pixels - background) @ direction / float(direction @ direction), 0.0, 1.0)


def _edges(coverage: np.ndarray, rows: slice, cols: slice) -> tuple[float, float, float, float]:
    """The box of a component in pixels, its pure-pixel box pushed out by the coverage of the pixels just
    outside each side (the part of them the object covers)."""
    height, width = coverage.shape
    left = coverage[rows, cols.start - 1].max() if cols.start > 0 else 0.0
    right = coverage[rows, cols.stop].max() if cols.stop < width else 0.0
    top = coverage[rows.start - 1, cols].max() if rows.start > 0 else 0.0
    bottom = coverage[rows.stop, cols].max() if rows.stop < height else 0.0
    return cols.start - left, rows.start - top, cols.stop + right, rows.stop + bottom


def detect(image: Image.Image) -> list[SceneObject]:
    """The objects in ``image``, top to bottom and left to right, with boxes in fractions of the side."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    height, width = pixels.shape[:2]
    distances = np.linalg.norm(pixels[:, :, None, :] - PALETTE[None, None], axis=-1)
    nearest = distances.argmin(-1)
    pure = distances.min(-1) < PURE_DISTANCE
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = np.median(border, axis=0)
    found = []
    for index, name in enumerate(NAMES):
        labels, _ = ndimage.label(pure & (nearest == index))
        coverage = _coverage(pixels, PALETTE[index], background)
        for component, box in enumerate(ndimage.find_objects(labels), start=1):
            mask = labels[box] == component
            if mask.sum() < MIN_PIXELS:
                continue
            x0, y0, x1, y1 = _edges(coverage, *box)
            found.append(SceneObject(shape=classify_shape(mask), color=name, size="",
                                     box=(x0 / width, y0 / height, x1 / width, y1 / height)))
    return sorted(found, key=lambda o: (o.box[1], o.box[0]))


def closest(objects: list[SceneObject], target: SceneObject) -> SceneObject:
    """The object whose centre is nearest ``target``'s (L1): pairs detections with scene-graph objects."""
    return min(objects, key=lambda o: abs(o.center[0] - target.center[0]) + abs(o.center[1] - target.center[1]))


def ground_truth_agreement(truths: Sequence[Sequence[SceneObject]], found: Sequence[Sequence[SceneObject]],
                           side: int) -> dict[str, float]:
    """How well detections on ground-truth renders reproduce their scene graphs: the share of scenes found exactly
    (shape and colour, nothing extra), the share of object pairs that keep their GenEval relation, and the box
    error in pixels (``side``: the image size)."""
    exact, agree, pairs, box_errors = 0, 0, 0, []
    for truth, detected in zip(truths, found):
        exact += Counter((o.shape, o.color) for o in detected) == Counter((o.shape, o.color) for o in truth)
        if len(detected) != len(truth):
            continue
        box_errors += [float(np.abs(np.subtract(closest(list(detected), o).box, o.box)).max() * side) for o in truth]
        for a, b in itertools.permutations(truth, 2):
            pairs += 1
            agree += relations(a, b) == relations(closest(list(detected), a), closest(list(detected), b))
    return {"scenes": len(truths), "exact_scenes": exact, "exact_rate": round(exact / len(truths), 4),
            "pairs": pairs, "relation_agreement": round(agree / pairs, 4) if pairs else 0.0,
            "box_error_px_median": round(float(np.median(box_errors)), 2) if box_errors else float("nan"),
            "box_error_px_p99": round(float(np.percentile(box_errors, 99)), 2) if box_errors else float("nan")}
