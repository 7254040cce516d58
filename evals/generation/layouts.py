"""The prompt files and image folder layouts of the generation benchmarks, so that their official evaluators read
what we write.

- GenEval: ``geneval_evaluation_metadata.jsonl`` (one JSON per prompt: tag, include, exclude, prompt); images go
  to ``<index:05d>/metadata.jsonl`` (that prompt's line) + ``<index:05d>/samples/<k:05d>.png``, 4 per prompt.
- DPG-Bench: ``{"item_id", "prompt"}`` per line; the judge reads one 2x2 grid of the 4 images per prompt, named
  ``<item_id>.png``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

IMAGES_PER_PROMPT = 4


def read_jsonl(path: str | Path, required: Sequence[str]) -> list[dict]:
    """Every line of a prompt file, each checked for the ``required`` keys (the error names the line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no prompt file at {path}; copy the benchmark's file there (see docs).")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number} is not valid JSON ({error}).") from error
        missing = [key for key in required if key not in row]
        if missing:
            raise ValueError(f"{path}:{number} lacks {missing}; each line needs {list(required)}.")
        rows.append(row)
    return rows


def geneval_prompts(path: str | Path) -> list[dict]:
    return read_jsonl(path, ("tag", "include", "prompt"))


def dpg_prompts(path: str | Path) -> list[dict]:
    return read_jsonl(path, ("item_id", "prompt"))


def geneval_sample_paths(root: str | Path, index: int, metadata: dict, count: int = IMAGES_PER_PROMPT) -> list[Path]:
    """Create ``<index:05d>/`` with its ``metadata.jsonl``; return the paths its ``count`` samples go to."""
    folder = Path(root) / f"{index:05d}"
    (folder / "samples").mkdir(parents=True, exist_ok=True)
    (folder / "metadata.jsonl").write_text(json.dumps(metadata) + "\n")
    return [folder / "samples" / f"{k:05d}.png" for k in range(count)]


def dpg_grid(images: Sequence[Image.Image]) -> Image.Image:
    """The 2x2 grid DPG-Bench's judge expects, from the prompt's 4 images (same size)."""
    if len(images) != IMAGES_PER_PROMPT or len({image.size for image in images}) != 1:
        raise ValueError(f"a DPG-Bench grid needs {IMAGES_PER_PROMPT} images of one size; got "
                         f"{[image.size for image in images]}.")
    width, height = images[0].size
    grid = Image.new("RGB", (2 * width, 2 * height))
    for k, image in enumerate(images):
        grid.paste(image.convert("RGB"), ((k % 2) * width, (k // 2) * height))
    return grid
