"""Turns conversations, prompts and images into what the model reads, in the official JanusFlow formats.

Chat: ``"{system}\\n\\nUser: {question}\\n\\nAssistant: {answer}<eos>User: ..."``; an image is
``<begin_of_image>`` + N x ``<image_placeholder>`` + ``<end_of_image>``. Generation: ``"User: {prompt}\\n\\n
Assistant:"`` (or the pre-training form ``"{prompt}"``) followed by the generation tag, whose slot the model
fills with the time token. Text is tokenized segment by segment (prompt parts, answers) so that training labels
and inference prompts see exactly the same ids.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from transformers import PreTrainedTokenizerBase

from data.images import pad_to_square, to_rgb
from janusflow.config import JanusFlowConfig
from janusflow.tokenizer import (
    GENERATION_TOKEN,
    IMAGE_END_TOKEN,
    IMAGE_START_TOKEN,
    IMAGE_TOKEN,
    PAD_TOKEN,
)
from settings.sampling import Template

IGNORE_INDEX = -100
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful language and vision assistant. You are able to understand the visual content that the "
    "user provides, and assist the user with a variety of tasks using natural language."
)
IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)
ROLES = ("User", "Assistant")
PROCESSOR_CONFIG = "processor_config.json"        # the official VLChatProcessor's file names and keys
PREPROCESSOR_CONFIG = "preprocessor_config.json"  # the official VLMImageProcessor's


class TokenizerError(ValueError):
    """The tokenizer cannot represent the chat format (a special token is missing or splits into several ids)."""


@dataclass
class EncodedSequence:
    input_ids: list[int]
    labels: list[int]
    num_images: int


@dataclass
class SequenceBatch:
    """Padded token sequences with their image slots; ``pixel_values`` holds the images in reading order."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    image_token_mask: torch.Tensor
    image_begin_mask: torch.Tensor
    pixel_values: torch.Tensor | None


@dataclass
class GenerationPrefix:
    """Left-padded text prefixes for image generation: BOS + prompt, up to (not including) the generation tag,
    whose slot the time token takes. ``attention_mask`` marks real slots and sets positions."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor

    def unconditional(self, pad_id: int) -> GenerationPrefix:
        """The CFG branch: BOS then pad tokens, with every prompt slot after BOS masked out of attention."""
        first = self.attention_mask.long().argmax(dim=1)
        rows = torch.arange(self.input_ids.shape[0])
        ids = torch.full_like(self.input_ids, pad_id)
        ids[rows, first] = self.input_ids[rows, first]
        mask = torch.zeros_like(self.attention_mask)
        mask[rows, first] = 1
        return GenerationPrefix(input_ids=ids, attention_mask=mask)


def conversation_segments(messages: Sequence[dict[str, str]], system_prompt: str) -> list[tuple[str, bool]]:
    """The chat text as (segment, is_response) pairs; an Assistant turn with empty content is left open."""
    segments: list[tuple[str, bool]] = []
    if system_prompt:
        segments.append((system_prompt + "\n\n", False))
    for index, message in enumerate(messages):
        role, content = message.get("role"), str(message.get("content", "")).strip()
        if role not in ROLES:
            raise ValueError(f"message {index} has role {role!r}; use one of {list(ROLES)}.")
        if role == "User":
            segments.append((f"User: {content}\n\n", False))
        elif content:
            segments.extend([("Assistant:", False), (" " + content, True)])
        else:
            segments.append(("Assistant:", False))
    return segments


def preprocess_image(image: Image.Image, size: int) -> torch.Tensor:
    """Resize the long side to ``size``, pad to a square with the mean colour, normalise to [-1, 1]."""
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL.Image, got {type(image).__name__}; open files with PIL.Image.open(path).")
    background = tuple(int(m * 255) for m in IMAGE_MEAN)
    canvas = pad_to_square(to_rgb(image, background), size, background)
    pixels = torch.from_numpy(np.array(canvas, dtype=np.uint8)).permute(2, 0, 1).contiguous().float()
    mean = torch.tensor(IMAGE_MEAN).view(3, 1, 1)
    return pixels.div_(255.0).sub_(mean).div_(torch.tensor(IMAGE_STD).view(3, 1, 1))


class JanusFlowProcessor:
    """Tokenizer + image preprocessing for one model: chat sequences, training labels, generation prefixes."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, image_size: int, num_image_tokens: int,
                 context_length: int | None = None, system_prompt: str = DEFAULT_SYSTEM_PROMPT,
                 add_missing_special_tokens: bool = True) -> None:
        self.tokenizer = tokenizer
        self.image_token = IMAGE_TOKEN
        self.image_size = image_size
        self.num_image_tokens = num_image_tokens
        self.context_length = context_length
        self.system_prompt = system_prompt
        wanted = [IMAGE_TOKEN, IMAGE_START_TOKEN, IMAGE_END_TOKEN, GENERATION_TOKEN]
        if tokenizer.pad_token is None:
            wanted.append(PAD_TOKEN)
        missing = [t for t in wanted if t not in tokenizer.get_vocab()]
        if missing and add_missing_special_tokens:
            tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_additional_special_tokens=False)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = PAD_TOKEN
        self.image_id = self._single_id(IMAGE_TOKEN)
        self.image_start_id = self._single_id(IMAGE_START_TOKEN)
        self.image_end_id = self._single_id(IMAGE_END_TOKEN)
        self.generation_id = self._single_id(GENERATION_TOKEN)
        self.pad_id = self._single_id(tokenizer.pad_token)
        if tokenizer.bos_token is None or tokenizer.eos_token is None:
            raise TokenizerError("the tokenizer has no BOS or EOS token; set tokenizer.bos_token and eos_token.")
        self.bos_id = self._single_id(tokenizer.bos_token)
        self.eos_id = self._single_id(tokenizer.eos_token)

    @classmethod
    def for_model(cls, tokenizer: PreTrainedTokenizerBase, config: JanusFlowConfig, **kwargs: object) -> JanusFlowProcessor:
        """A processor sized for ``config``: image size and token count from the understanding encoder, and the
        config's chat system prompt when it sets one."""
        spec = config.und_encoder_spec()
        if config.chat_system_prompt is not None:
            kwargs.setdefault("system_prompt", config.chat_system_prompt)
        llama = config.llama_config()
        processor = cls(tokenizer, spec.image_size, spec.num_tokens, llama.max_position_embeddings, **kwargs)
        if len(tokenizer) > llama.vocab_size:
            raise TokenizerError(
                f"the tokenizer has {len(tokenizer)} tokens but the model's vocabulary is {llama.vocab_size}; "
                "use the tokenizer saved with the model, or resize the model's embeddings."
            )
        return processor

    def processor_config(self) -> dict[str, Any]:
        """``processor_config.json``: the chat format, with the official processor's keys."""
        return {"processor_class": "VLChatProcessor", "image_tag": self.image_token,
                "image_start_tag": IMAGE_START_TOKEN, "image_end_tag": IMAGE_END_TOKEN,
                "pad_tag": self.tokenizer.pad_token, "num_image_tokens": self.num_image_tokens,
                "add_special_token": False, "sft_format": "deepseek", "mask_prompt": True,
                "ignore_id": IGNORE_INDEX, "system_prompt": self.system_prompt}

    def preprocessor_config(self) -> dict[str, Any]:
        """``preprocessor_config.json``: how an image becomes pixel values, with the official image processor's
        keys (long side resized, padded with the mean colour, normalised)."""
        return {"image_processor_type": "VLMImageProcessor", "processor_class": "VLChatProcessor",
                "image_size": self.image_size, "image_mean": list(IMAGE_MEAN), "image_std": list(IMAGE_STD),
                "background_color": [int(m * 255) for m in IMAGE_MEAN], "rescale_factor": 1 / 255,
                "do_normalize": True}

    def save_pretrained(self, directory: str | Path) -> Path:
        """The tokenizer files and the two processor files, so that the directory reads without this library."""
        directory = Path(directory)
        self.tokenizer.save_pretrained(directory)
        (directory / PROCESSOR_CONFIG).write_text(json.dumps(self.processor_config(), indent=2) + "\n")
        (directory / PREPROCESSOR_CONFIG).write_text(json.dumps(self.preprocessor_config(), indent=2) + "\n")
        return directory

    def check_saved(self, directory: str | Path) -> None:
        """Raise TokenizerError when processor files saved in ``directory`` disagree with this processor (sized
        from the model's config): a checkpoint whose files were edited or mixed with another model's."""
        directory = Path(directory)
        for name, ours in ((PROCESSOR_CONFIG, self.processor_config()),
                           (PREPROCESSOR_CONFIG, self.preprocessor_config())):
            path = directory / name
            if not path.is_file():
                continue
            saved = json.loads(path.read_text())
            wrong = [f"{key}={saved[key]!r} (the model needs {value!r})" for key, value in ours.items()
                     if key in saved and saved[key] != value]
            if wrong:
                raise TokenizerError(f"{path} disagrees with the model's config.json: {'; '.join(wrong)}; save the "
                                     "checkpoint again (JanusFlowPipeline.save_pretrained) or remove the file.")

    def _single_id(self, token: str) -> int:
        ids = self.tokenizer.encode(token, add_special_tokens=False)
        if len(ids) != 1:
            raise TokenizerError(
                f"special token {token!r} encodes to {len(ids)} ids {ids}; it must be exactly one id. Add it with "
                f"tokenizer.add_special_tokens({{'additional_special_tokens': [{token!r}]}}) and resize the "
                "model's embeddings to the new vocabulary size."
            )
        return ids[0]

    # ----- images -------------------------------------------------------------------------------------------

    def preprocess_images(self, images: Sequence[Image.Image]) -> torch.Tensor:
        if not images:
            return torch.zeros(0, 3, self.image_size, self.image_size)
        return torch.stack([preprocess_image(image, self.image_size) for image in images])

    # ----- chat -------------------------------------------------------------------------------------------

    def encode_conversation(self, messages: Sequence[dict[str, str]], system_prompt: str | None = None,
                            truncate: bool = False) -> EncodedSequence:
        """BOS + the chat text with images expanded; labels keep only the Assistant answers and their EOS.
        Longer than the context: an error, or with ``truncate`` (training) the tail is cut, never inside an image."""
        system = self.system_prompt if system_prompt is None else system_prompt
        segments = conversation_segments(messages, system)
        pieces = [self._encode(text) for text, _ in segments]
        ids, labels, num_images = [self.bos_id], [IGNORE_INDEX], 0
        for piece, (_, is_response) in zip(pieces, segments):
            piece, count = self._expand_images(piece)
            num_images += count
            if is_response:
                piece = piece + [self.eos_id]
            ids.extend(piece)
            labels.extend(self._labels(piece, is_response))
        if truncate and self.context_length is not None and len(ids) > self.context_length:
            kept = ids[: self.context_length]
            if kept.count(self.image_end_id) == num_images:  # every image block ends inside the context
                return EncodedSequence(kept, labels[: self.context_length], num_images)
        self._check_length(len(ids), "conversation")
        return EncodedSequence(input_ids=ids, labels=labels, num_images=num_images)

    def encode_chat_prompt(self, messages: Sequence[dict[str, str]], system_prompt: str | None = None) -> EncodedSequence:
        """A prompt for answering: the conversation so far (ending with a User turn) and an open Assistant turn."""
        if not messages or messages[-1].get("role") != "User":
            raise ValueError("a chat prompt must end with a User message; append the question as {'role': 'User'}.")
        return self.encode_conversation([*messages, {"role": "Assistant", "content": ""}], system_prompt)

    def _encode(self, text: str) -> list[int]:
        """Ids of one text segment, no special tokens added; fast tokenizers skip the Python wrapper (same ids)."""
        if self.tokenizer.is_fast:
            return self.tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).ids
        return self.tokenizer.encode(text, add_special_tokens=False)

    def _expand_images(self, piece: list[int]) -> tuple[list[int], int]:
        """Each image tag becomes begin + N placeholders + end; returns the ids and the number of images."""
        if self.image_id not in piece:
            return piece, 0
        block = [self.image_start_id] + [self.image_id] * self.num_image_tokens + [self.image_end_id]
        out: list[int] = []
        for token in piece:
            out.extend(block if token == self.image_id else (token,))
        return out, piece.count(self.image_id)

    def _labels(self, piece: list[int], is_response: bool) -> list[int]:
        """Labels for a segment: nothing in prompts; in answers, every token except image slots."""
        if not is_response:
            return [IGNORE_INDEX] * len(piece)
        image_slots = {self.image_start_id, self.image_id, self.image_end_id}
        return [IGNORE_INDEX if token in image_slots else token for token in piece]

    def _check_length(self, length: int, what: str) -> None:
        if self.context_length is not None and length > self.context_length:
            raise ValueError(
                f"the {what} is {length} tokens long but the LLM context is {self.context_length}; shorten the text, "
                "use fewer images, or use a model with a longer max_position_embeddings."
            )

    def batch(self, sequences: Sequence[EncodedSequence], images: Sequence[Image.Image] = (),
              padding_side: Literal["left", "right"] = "left") -> SequenceBatch:
        """Pad sequences to one length; ``images`` are all the batch's images in reading order."""
        pixel_values = self.preprocess_images(images) if images else None
        return self.pad_sequences(sequences, pixel_values, padding_side)

    def pad_sequences(self, sequences: Sequence[EncodedSequence], pixel_values: torch.Tensor | None = None,
                      padding_side: Literal["left", "right"] = "left") -> SequenceBatch:
        """Pad encoded sequences to one length; ``pixel_values`` are their preprocessed images in reading order."""
        expected = sum(s.num_images for s in sequences)
        given = 0 if pixel_values is None else pixel_values.shape[0]
        if given != expected:
            raise ValueError(
                f"the texts hold {expected} {IMAGE_TOKEN} tag(s) but {given} image(s) were given; put one "
                f"{IMAGE_TOKEN} in a User message for each image, in order."
            )
        length = max(len(s.input_ids) for s in sequences)
        ids = np.full((len(sequences), length), self.pad_id, dtype=np.int64)
        labels = np.full((len(sequences), length), IGNORE_INDEX, dtype=np.int64)
        mask = np.zeros((len(sequences), length), dtype=np.int64)
        for row, seq in enumerate(sequences):
            span = slice(length - len(seq.input_ids), length) if padding_side == "left" else slice(0, len(seq.input_ids))
            ids[row, span] = seq.input_ids
            labels[row, span] = seq.labels
            mask[row, span] = 1
        ids, labels, mask = torch.from_numpy(ids), torch.from_numpy(labels), torch.from_numpy(mask)
        return SequenceBatch(
            input_ids=ids, attention_mask=mask, labels=labels,
            image_token_mask=(ids == self.image_id) & mask.bool(),
            image_begin_mask=(ids == self.image_start_id) & mask.bool(),
            pixel_values=pixel_values if given else None,
        )

    def encode_text(self, text: str) -> EncodedSequence:
        """A text-only training sequence: BOS + text + EOS, every token but BOS a label; cut to the context."""
        ids = [self.bos_id] + self._encode(text) + [self.eos_id]
        if self.context_length is not None:
            ids = ids[: self.context_length]
        return EncodedSequence(input_ids=ids, labels=[IGNORE_INDEX] + ids[1:], num_images=0)

    def chat_batch(self, conversations: Sequence[Sequence[dict[str, str]]],
                   images: Sequence[Sequence[Image.Image]] = ()) -> SequenceBatch:
        """Left-padded prompts for batched answering; ``images[i]`` are conversation i's images."""
        images = list(images) or [[] for _ in conversations]
        if len(images) != len(conversations):
            raise ValueError(f"{len(conversations)} conversations but {len(images)} image lists; give one list each.")
        encoded = [self.encode_chat_prompt(c) for c in conversations]
        return self.batch(encoded, [im for per_row in images for im in per_row], padding_side="left")

    # ----- generation ---------------------------------------------------------------------------------------

    @staticmethod
    def generation_text(prompt: str, template: Template = "sft") -> str:
        """The text before the generation tag: SFT form ``User: ...\\n\\nAssistant:`` or pre-training form."""
        if template == "sft":
            return f"User: {prompt.strip()}\n\nAssistant:"
        if template == "pretrain":
            return prompt.strip()
        raise ValueError(f"unknown generation template {template!r}; use 'sft' or 'pretrain'.")

    def generation_prompt_ids(self, prompt: str, template: Template = "sft", reserved: int = 0,
                              truncate: bool = False) -> list[int]:
        """BOS + the prompt's ids, up to (not including) the generation tag; ``reserved`` is the number of slots
        that follow (time + image tokens), checked against the context (with ``truncate``, the prompt is cut)."""
        row = [self.bos_id] + self._encode(self.generation_text(prompt, template))
        if truncate and self.context_length is not None:
            row = row[: max(1, self.context_length - reserved)]
        if self.context_length is not None and len(row) + reserved > self.context_length:
            raise ValueError(
                f"prompt {prompt[:60]!r} is {len(row)} tokens; with the {reserved} time and image tokens that "
                f"follow it exceeds the LLM context of {self.context_length}. Shorten the prompt."
            )
        return row

    def encode_generation_prompts(self, prompts: Sequence[str], template: Template = "sft",
                                  reserved: int = 0) -> GenerationPrefix:
        """Left-padded BOS + prompt ids for a batch of prompts."""
        if isinstance(prompts, str):
            raise TypeError("prompts must be a list of strings; wrap a single prompt as [prompt].")
        return self.pad_generation_prompts([self.generation_prompt_ids(p, template, reserved) for p in prompts])

    def pad_generation_prompts(self, rows: Sequence[Sequence[int]]) -> GenerationPrefix:
        """Left-pad prompt id rows into a GenerationPrefix (the layout the sampler and the RF loss read)."""
        length = max(len(r) for r in rows)
        ids = torch.full((len(rows), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, length - len(row):] = torch.tensor(list(row))
            mask[i, length - len(row):] = 1
        return GenerationPrefix(input_ids=ids, attention_mask=mask)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True).strip()
