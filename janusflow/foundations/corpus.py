"""What the foundations learn from and are measured on: training material read from the MDS shards (the
lineage), held-out material from the shapes world's evaluation split (disjoint scenes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from data.shard_store import ShardStoreError, join
from data.streaming import set_samples
from settings.layout import WorldLayout

IMAGE_TAG = "<image>"


def shard_samples(shards: str | Path, task: str, cache: str | Path) -> Iterator[dict]:
    """Every sample of ``shards/<task>`` (a local folder or a URL) in order, read through its shared Streaming cache
    under ``cache``."""
    try:
        yield from set_samples(join(shards, task), cache)
    except ShardStoreError as error:
        raise ShardStoreError(f"{error}; run the shard stage first (python -m data.cli shards).") from error


def conversation_text(turns: list[dict[str, str]]) -> str:
    """A conversation as plain chat text without its image tag, for language-only training."""
    parts = []
    for turn in turns:
        content = turn["content"].replace(IMAGE_TAG, "").strip()
        parts.append(f"{turn['role']}: {content}")
    return "\n\n".join(parts)


def training_texts(shards: str | Path, cache: str | Path) -> list[str]:
    """Text documents, generation captions and understanding conversations (as chat text), in shard order."""
    texts = [s["text"] for s in shard_samples(shards, "text", cache)]
    texts += [s["caption"] for s in shard_samples(shards, "gen", cache)]
    texts += [conversation_text(s["conversation"]) for s in shard_samples(shards, "und", cache)]
    return texts


def image_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1).float() / 127.5 - 1.0


def training_pairs(shards: str | Path, cache: str | Path) -> tuple[torch.Tensor, list[str]]:
    """Generation images ([-1, 1], the shard resolution) with their captions."""
    images, captions = [], []
    for sample in shard_samples(shards, "gen", cache):
        images.append(image_tensor(sample["image"]))
        captions.append(sample["caption"])
    return torch.stack(images), captions


@dataclass
class HeldOut:
    """The evaluation split: images ([-1, 1]), scene graphs (and their ids), captions, the questions (``vqa.jsonl``
    rows) and their question/answer texts."""

    images: torch.Tensor
    scenes: list[dict]
    scene_ids: list[str]
    captions: list[str]
    questions: list[dict]
    qa_texts: list[str]


def load_heldout(raw: str | Path) -> HeldOut:
    files = WorldLayout(Path(raw)).heldout
    if not files.scenes.is_file():
        raise FileNotFoundError(f"{files.root} has no {files.scenes.name}; write the shapes world first (python -m "
                                "data.cli shapes-world).")
    rows = [json.loads(line) for line in files.scenes.read_text().splitlines()]
    images = torch.stack([image_tensor(Image.open(files.images / r["image"])) for r in rows])
    questions = [json.loads(line) for line in files.questions.read_text().splitlines()]
    captions = [c for r in rows for c in (r["short_caption"], r["detailed_caption"])]
    qa = [f"User: {q['question']}\n\nAssistant: {q['answer']}" for q in questions]
    return HeldOut(images=images, scenes=[r["scene"] for r in rows], scene_ids=[r["id"] for r in rows],
                   captions=captions, questions=questions, qa_texts=qa)
