"""Draws a scene graph as an RGB image: 4x supersampled flat shapes, downsampled for clean anti-aliased edges."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFilter

from data.shapes.scene import COLORS, Scene, SceneObject

SUPERSAMPLE = 4
MIN_RESOLUTION, MAX_RESOLUTION = 16, 384


def _outline(obj: SceneObject, side: int) -> tuple[str, list[tuple[float, float]]]:
    x0, y0, x1, y1 = (v * side for v in obj.box)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if obj.shape == "circle":
        return "ellipse", [(x0, y0), (x1, y1)]
    if obj.shape == "square":
        return "rectangle", [(x0, y0), (x1, y1)]
    if obj.shape == "triangle":
        return "polygon", [(x0, y1), (x1, y1), (cx, y0)]
    if obj.shape == "diamond":
        return "polygon", [(cx, y0), (x1, cy), (cx, y1), (x0, cy)]
    raise ValueError(f"unknown shape {obj.shape!r}")


def render(scene: Scene, resolution: int = 64) -> Image.Image:
    """The scene at ``resolution`` x ``resolution``; degraded scenes (quality < 1) are blurred."""
    if not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"resolution {resolution} is outside [{MIN_RESOLUTION}, {MAX_RESOLUTION}]; "
                         "set shapes_world.resolution in params.yaml within that range.")
    side = resolution * SUPERSAMPLE
    canvas = Image.new("RGB", (side, side), scene.background)
    draw = ImageDraw.Draw(canvas)
    for obj in scene.objects:
        kind, points = _outline(obj, side)
        getattr(draw, kind)(points, fill=COLORS[obj.color])
    image = canvas.resize((resolution, resolution), Image.Resampling.BOX)
    if scene.quality < 1.0:
        image = image.filter(ImageFilter.GaussianBlur(radius=(1.0 - scene.quality) * resolution / 24))
    return image
