"""The shapes world's held-out files (``<raw>/eval/``): scene graphs with captions, and questions with answers."""

from __future__ import annotations

import json
from pathlib import Path


def read_eval(eval_dir: Path, name: str) -> list[dict]:
    """Every row of ``eval_dir/name`` (``scenes.jsonl`` or ``vqa.jsonl``)."""
    path = eval_dir / name
    if not path.is_file():
        raise FileNotFoundError(f"no held-out set at {path}; write the shapes world first (python -m data.cli "
                                "shapes-world).")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
