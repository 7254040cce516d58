"""StreamingDataset over the MDS shards that yields training-ready samples, encoded by the model's processor.

A sample is one of:

* understanding: ``{"task": "und", "sequence": EncodedSequence, "pixel_values": [n, 3, H, W]}`` in the chat
  template, labels only on the answers (the AR loss's response mask);
  text past the LLM context is cut (never inside an image) rather than failing the run;
* generation: ``{"task": "gen", "prompt_ids": [...], "pixel_values": [3, H, W] in [-1, 1], "caption": str}``,
  the prompt in the pre-training form ``"<prompt>"`` or the SFT form ``"User:<prompt>\\n\\nAssistant:"``, the
  generation tag and image tokens to follow (the prompt is cut so that they fit the context);
* text: ``{"task": "text", "sequence": EncodedSequence}``, every token a label.

The processor is passed in (any object with the JanusFlowProcessor methods used here), so this package does not
depend on the model package.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image
from streaming import StreamingDataset

from data.sources.base import IMAGE_TAG


class SampleProcessor(Protocol):
    image_token: str
    num_image_tokens: int

    def encode_conversation(self, messages: list[dict[str, str]], truncate: bool = False) -> Any: ...
    def encode_text(self, text: str) -> Any: ...
    def generation_prompt_ids(self, prompt: str, template: str = "sft", reserved: int = 0,
                              truncate: bool = False) -> list[int]: ...
    def preprocess_images(self, images: list[Image.Image]) -> torch.Tensor: ...
    def pad_sequences(self, sequences: list[Any], pixel_values: torch.Tensor | None, padding_side: str) -> Any: ...
    def pad_generation_prompts(self, rows: list[list[int]]) -> Any: ...


def image_tensor(image: Image.Image) -> torch.Tensor:
    """RGB image -> [3, H, W] float in [-1, 1], the VAE's input range."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def encode_sample(raw: dict[str, Any], processor: SampleProcessor, template: str) -> dict[str, Any]:
    """One MDS sample (by its ``task`` column) -> the training-ready sample described in the module docstring."""
    task = raw["task"]
    if task == "und":
        messages = [{"role": t["role"], "content": t["content"].replace(IMAGE_TAG, processor.image_token)}
                    for t in raw["conversation"]]
        return {"task": "und", "sequence": processor.encode_conversation(messages, truncate=True),
                "pixel_values": processor.preprocess_images([raw["image"]])}
    if task == "gen":
        prompt = processor.generation_prompt_ids(raw["caption"], template, 1 + processor.num_image_tokens, truncate=True)
        return {"task": "gen", "prompt_ids": prompt,
                "pixel_values": image_tensor(raw["image"]), "caption": raw["caption"]}
    if task == "text":
        return {"task": "text", "sequence": processor.encode_text(raw["text"])}
    raise ValueError(f"sample {raw.get('key')!r} has task {task!r}; shards hold 'und', 'gen' or 'text'.")


class JanusFlowStreamingDataset(StreamingDataset):
    """A StreamingDataset (one or several streams) whose items are encoded for training by ``processor``."""

    def __init__(self, *, processor: SampleProcessor, generation_template: str = "sft", **kwargs: Any) -> None:
        if generation_template not in ("sft", "pretrain"):
            raise ValueError(f"generation_template={generation_template!r}; use 'sft' or 'pretrain'.")
        super().__init__(**kwargs)
        self.processor = processor
        self.generation_template = generation_template

    def get_item(self, sample_id: int, retry: int = 7) -> dict[str, Any]:
        return encode_sample(super().get_item(sample_id, retry), self.processor, self.generation_template)
