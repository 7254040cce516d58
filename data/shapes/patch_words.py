"""A scene's patch grid in words: for each patch of the understanding encoder's grid, the colour and shape words
of the object whose centre lies in that patch, or nothing (the background), and that object's region words
("top left", as position questions answer).

The understanding encoder learns to say, per patch, which words belong there (a dense objective beside its
sigmoid loss, ``janusflow.foundations.siglip``); the scene-reading experiment (``diagnostics.reading``)
asks whether the LLM can learn to answer from a scene written this way. Objects never overlap and keep a gap, so their
centres lie at least 0.19 of the side apart along one axis and no two share a patch on any grid of at least 6 x 6.
"""

from __future__ import annotations

from data.shapes.conversations import REGIONS
from data.shapes.scene import COLORS, SHAPES, Scene, region

PATCH_WORDS: tuple[tuple[str, ...], ...] = ((), *((color, shape) for color in COLORS for shape in SHAPES))
REGION_WORDS: tuple[tuple[str, ...], ...] = ((), *(tuple(name.split()) for name in REGIONS))


def word_index(color: str, shape: str) -> int:
    """The index in ``PATCH_WORDS`` of an object of ``color`` and ``shape`` (0 is the background)."""
    return 1 + list(COLORS).index(color) * len(SHAPES) + SHAPES.index(shape)


def _centre_patches(scene: Scene, grid: int) -> list[int]:
    """The patch holding each object's centre, row by row; an error when two objects share one."""
    if grid < 1:
        raise ValueError(f"grid must be at least 1, got {grid}.")
    cells = [min(grid - 1, int(obj.center[1] * grid)) * grid + min(grid - 1, int(obj.center[0] * grid))
             for obj in scene.objects]
    for cell in cells:
        if cells.count(cell) > 1:
            raise ValueError(f"two objects have their centre in patch {cell} of a {grid}x{grid} grid; use a grid of "
                             "at least 6 x 6 for shapes-world scenes.")
    return cells


def patch_labels(scene: Scene, grid: int) -> list[int]:
    """``grid * grid`` indices into ``PATCH_WORDS``, row by row: each object's words at the patch holding its
    centre, the background (0) everywhere else."""
    labels = [0] * (grid * grid)
    for obj, cell in zip(scene.objects, _centre_patches(scene, grid)):
        labels[cell] = word_index(obj.color, obj.shape)
    return labels


def region_labels(scene: Scene, grid: int) -> list[int]:
    """``grid * grid`` indices into ``REGION_WORDS``: each object's region at the patch holding its centre, none (0)
    everywhere else."""
    labels = [0] * (grid * grid)
    for obj, cell in zip(scene.objects, _centre_patches(scene, grid)):
        labels[cell] = 1 + REGIONS.index(region(obj))
    return labels
