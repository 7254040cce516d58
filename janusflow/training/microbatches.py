"""Splitting a mixed und/gen/text batch (``data.collate.MixedBatchCollator``) into microbatches.

Composer accumulates gradients over microbatches when a device cannot hold the whole batch. Each microbatch
takes an equal slice of every data type present, so the und:gen:text ratio holds within microbatches too;
understanding images follow their sequences (a sequence may hold several images).
"""

from __future__ import annotations

import math
from typing import Any

import torch

SEQUENCE_KEYS = ("input_ids", "attention_mask", "labels", "image_token_mask", "image_begin_mask")


def num_samples(batch: dict[str, Any]) -> int:
    return len(batch["tasks"])


def _rows(part: dict[str, Any], task: str) -> int:
    return len(part["captions"]) if task == "gen" else int(part["input_ids"].shape[0])


def _slice(part: dict[str, Any], task: str, start: int, stop: int) -> dict[str, Any]:
    out = {k: (v[start:stop] if k in SEQUENCE_KEYS or task == "gen" else v) for k, v in part.items()}
    if task == "und" and part.get("pixel_values") is not None:
        per_row = part["image_begin_mask"].sum(1)
        first = int(per_row[:start].sum())
        out["pixel_values"] = part["pixel_values"][first:first + int(per_row[start:stop].sum())]
    return out


def split_batch(batch: dict[str, Any], microbatch_size: int) -> list[dict[str, Any]]:
    """``ceil(n / microbatch_size)`` microbatches, each with an equal share of every data type present."""
    n = num_samples(batch)
    if microbatch_size >= n:
        return [batch]
    pieces = math.ceil(n / microbatch_size)
    parts = {task: batch[task] for task in ("und", "gen", "text") if task in batch}
    micro = []
    for index in range(pieces):
        chunk: dict[str, Any] = {"tasks": [], "counts": {}}
        for task, part in parts.items():
            rows = _rows(part, task)
            bounds = torch.linspace(0, rows, pieces + 1).round().long().tolist()
            start, stop = bounds[index], bounds[index + 1]
            if stop > start:
                chunk[task] = _slice(part, task, start, stop)
                chunk["tasks"] += [task] * (stop - start)
                chunk["counts"][task] = stop - start
        if chunk["tasks"]:
            micro.append(chunk)
    return micro
