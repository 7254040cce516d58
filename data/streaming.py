"""StreamingDataset over the MDS shards that yields training-ready samples, encoded by the model's processor.

A sample is one of:

* understanding: ``{"task": "und", "sequence": EncodedSequence, "pixel_values": [n, 3, H, W]}`` in the chat
  template, labels only on the answers (the AR loss's response mask);
  text past the LLM context is cut (never inside an image) rather than failing the run;
* generation: ``{"task": "gen", "prompt_ids": [...], "pixel_values": [3, H, W] in [-1, 1], "caption": str}``
  (and ``latent_moments``, the VAE posterior, when read from a latents set),
  the prompt in the pre-training form ``"<prompt>"`` or the SFT form ``"User:<prompt>\\n\\nAssistant:"``, the
  generation tag and image tokens to follow (the prompt is cut so that they fit the context);
* text: ``{"task": "text", "sequence": EncodedSequence}``, every token a label.

The processor is passed in (any object with the JanusFlowProcessor methods used here), so this package does not
depend on the model package.

Every reader checks the cached shards it reads, and only those, the first time it reads them
(``VerifiedStreamingDataset``): Streaming validates what it downloads, but trusts whatever its cache already holds.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from filelock import FileLock
from PIL import Image
from streaming import StreamingDataset
from streaming.base.dataset import _ShardState
from streaming.base.format.base.reader import FileInfo

from data.shard_store import read_index, shared_cache
from data.shards import ShardIntegrityError, shard_file_problem
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
        sample = {"task": "gen", "prompt_ids": prompt,
                  "pixel_values": image_tensor(raw["image"]), "caption": raw["caption"]}
        if "latent_moments" in raw:   # a latents set: the VAE posterior, encoded ahead of training
            sample["latent_moments"] = torch.tensor(raw["latent_moments"], dtype=torch.float32)   # a copy: MDS's is read-only
        return sample
    if task == "text":
        return {"task": "text", "sequence": processor.encode_text(raw["text"])}
    raise ValueError(f"sample {raw.get('key')!r} has task {task!r}; shards hold 'und', 'gen' or 'text'.")


def cached_problems(folder: Path, files: list[tuple[FileInfo, FileInfo | None]], algorithm: str) -> list[str]:
    """What is wrong with the cached files of one shard (raw and compressed, those present) against its index."""
    present = [(folder / info.basename, info) for pair in files for info in pair
               if info is not None and (folder / info.basename).exists()]
    entries = [(path, {"basename": info.basename, "bytes": info.bytes, "hashes": info.hashes}) for path, info in present]
    return [problem for path, entry in entries if (problem := shard_file_problem(path, entry, (algorithm,)))]


class VerifiedStreamingDataset(StreamingDataset):
    """A StreamingDataset that checks a cached shard against its index (size and ``validate_hash``) the first time
    this process reads it, and fetches a damaged one again; a shard that fails its check on download stops the
    run with ShardIntegrityError. Each rank and worker so hashes only the shards it reads. Streaming ends an epoch
    early, silently, when its download thread fails; the failure is raised here at the end of that epoch instead."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._checked: set[int] = set()
        self._failure: ShardIntegrityError | None = None

    def __iter__(self) -> Iterator[Any]:
        yield from super().__iter__()
        if self._failure is not None:
            raise self._failure

    def get_item(self, sample_id: int, retry: int = 7) -> Any:
        self._check_once(self.spanner[sample_id][0])   # reading by index skips prepare_shard when the file is there
        return super().get_item(sample_id, retry)

    def prepare_shard(self, shard_id: int, blocking: bool = True) -> None:
        self._check_once(shard_id)
        try:
            super().prepare_shard(shard_id, blocking)
        except ValueError as error:
            if "Checksum failure" not in str(error):
                raise
            stream = self.streams[self.stream_per_shard[shard_id]]
            self._failure = ShardIntegrityError(
                f"a shard of {stream.remote} does not match its index ({error}); restore it there (dvc checkout, or "
                "rerun the shard stage: dvc repro shards, which uploads again to data.paths.remote).")
            raise self._failure from error

    def _check_once(self, shard_id: int) -> None:
        if shard_id not in self._checked:
            self._evict_if_damaged(shard_id)
            self._checked.add(shard_id)

    def _evict_if_damaged(self, shard_id: int) -> None:
        stream = self.streams[self.stream_per_shard[shard_id]]
        with FileLock(self._cache_filelock_path):
            if self._shard_states[shard_id] != _ShardState.LOCAL:
                return
            problems = cached_problems(Path(stream.local, stream.split or ""), self.shards[shard_id].file_pairs,
                                       stream.validate_hash or "xxh64")
            if problems:
                self._evict_shard(shard_id)
        for problem in problems:
            warnings.warn(f"damaged Streaming cache, copied again from {stream.remote}: {stream.local}: {problem}",
                          stacklevel=2)


def set_samples(location: str, cache: str | Path) -> Iterator[dict]:
    """Every sample of the shard set at ``location`` (a local folder or a URL) in order, read through its shared
    cache under ``cache``; raises ShardStoreError naming the location when it has no index."""
    dataset = VerifiedStreamingDataset(remote=location, local=str(shared_cache(cache, location, read_index(location))),
                                       shuffle=False, batch_size=1, validate_hash="xxh64")
    for index in range(dataset.num_samples):
        yield dataset[index]


class JanusFlowStreamingDataset(VerifiedStreamingDataset):
    """A StreamingDataset (one or several streams) whose items are encoded for training by ``processor``."""

    def __init__(self, *, processor: SampleProcessor, generation_template: str = "sft", **kwargs: Any) -> None:
        if generation_template not in ("sft", "pretrain"):
            raise ValueError(f"generation_template={generation_template!r}; use 'sft' or 'pretrain'.")
        super().__init__(**kwargs)
        self.processor = processor
        self.generation_template = generation_template

    def get_item(self, sample_id: int, retry: int = 7) -> dict[str, Any]:
        return encode_sample(super().get_item(sample_id, retry), self.processor, self.generation_template)
