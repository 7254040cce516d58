"""Batches of mixed samples: each data type padded the way its loss reads it.

Understanding and text sequences are right-padded (``SequenceBatch`` fields as a dict); generation prompts are
left-padded (``GenerationPrefix`` fields), because the generation tag and image tokens follow the prompt.
"""

from __future__ import annotations

from typing import Any

import torch

from data.streaming import SampleProcessor


class MixedBatchCollator:
    """``collate_fn`` for a DataLoader over JanusFlowStreamingDataset; absent data types are left out."""

    def __init__(self, processor: SampleProcessor) -> None:
        self.processor = processor

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        by_task: dict[str, list[dict[str, Any]]] = {"und": [], "gen": [], "text": []}
        for sample in samples:
            by_task[sample["task"]].append(sample)
        # "tasks" comes first: Streaming's loader counts a dict batch's samples by the length of its first value.
        batch: dict[str, Any] = {"tasks": [sample["task"] for sample in samples],
                                 "counts": {task: len(items) for task, items in by_task.items()}}
        if by_task["und"]:
            pixels = torch.cat([s["pixel_values"] for s in by_task["und"]])
            padded = self.processor.pad_sequences([s["sequence"] for s in by_task["und"]], pixels, "right")
            batch["und"] = dict(vars(padded))
        if by_task["gen"]:
            prefix = self.processor.pad_generation_prompts([s["prompt_ids"] for s in by_task["gen"]])
            batch["gen"] = {"prefix_ids": prefix.input_ids, "prefix_attention": prefix.attention_mask,
                            "pixel_values": torch.stack([s["pixel_values"] for s in by_task["gen"]]),
                            "captions": [s["caption"] for s in by_task["gen"]]}
            if "latent_moments" in by_task["gen"][0]:
                batch["gen"]["latent_moments"] = torch.stack([s["latent_moments"] for s in by_task["gen"]])
        if by_task["text"]:
            padded = self.processor.pad_sequences([s["sequence"] for s in by_task["text"]], None, "right")
            batch["text"] = {k: v for k, v in vars(padded).items() if k in ("input_ids", "attention_mask", "labels")}
        return batch
