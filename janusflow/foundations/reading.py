"""Scene reading: conversations about a shapes-world scene whose image slots hold the scene written in words (each
object's colour and shape words, summed from the LLM's own input embeddings, at the patch holding its centre;
``data.shapes.patch_words``), in exactly the chat layout the model later sees with real images.

The LLM foundation trains on them beside its text, so it can answer questions about what the slots hold before it
ever sees an image; stage 1's understanding aligner starts as the linear map from the encoder's patches to the
same vectors (``janusflow.foundations.alignment``). The questions are the shapes world's own
(``data.shapes.conversations``, no captioning requests), so their answers are exact.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlamaForCausalLM, PreTrainedTokenizerBase

from data.shapes.conversations import CATEGORIES, questions
from data.shapes.patch_words import PATCH_WORDS, REGION_WORDS, patch_labels, region_labels
from data.shapes.scene import Scene
from data.shapes.world import scenes, world_rng
from janusflow.processor import EncodedSequence, JanusFlowProcessor, SequenceBatch
from settings.data import ShapesWorldConfig
from settings.foundations import ReadingPhase, check_curriculum

PURPOSE = "reading"


@dataclass
class ReadingBatch:
    """Padded conversations and, per image slot in reading order, the index of its patch words and region words."""

    sequences: SequenceBatch
    patch_labels: torch.Tensor
    region_labels: torch.Tensor


@dataclass(frozen=True)
class SlotWords:
    """Token ids of every row of ``PATCH_WORDS`` and ``REGION_WORDS`` (``patch_word_ids``), the words a slot
    holds."""

    objects: torch.Tensor
    regions: torch.Tensor

    @classmethod
    def of(cls, tokenizer: PreTrainedTokenizerBase, regions: bool = False) -> SlotWords:
        """Without ``regions`` every region row is empty: the linear und aligner cannot put region words on object
        patches only (docs/understanding.md), so the pipeline's slots hold colour and shape words alone."""
        return cls(patch_word_ids(tokenizer, PATCH_WORDS),
                   patch_word_ids(tokenizer, REGION_WORDS if regions else [()] * len(REGION_WORDS)))


def patch_word_ids(tokenizer: PreTrainedTokenizerBase,
                   table: Sequence[Sequence[str]] = PATCH_WORDS) -> torch.Tensor:
    """[len(table), K] token ids of each row's words (as they appear after a space), padded with -1; the
    background row is all -1."""
    rows = [[token for word in words for token in tokenizer.encode(" " + word, add_special_tokens=False)]
            for words in table]
    ids = torch.full((len(rows), max(len(row) for row in rows)), -1, dtype=torch.long)
    for index, row in enumerate(rows):
        ids[index, :len(row)] = torch.tensor(row, dtype=torch.long)
    return ids


def patch_word_vectors(embedding: nn.Embedding, word_ids: torch.Tensor) -> torch.Tensor:
    """[len(PATCH_WORDS), hidden]: the sum of the embeddings of each patch's word tokens, zero for the background
    (gradient flows into the embedding table)."""
    present = (word_ids >= 0).to(embedding.weight.dtype)
    return (embedding(word_ids.clamp_min(0)) * present[..., None]).sum(1)


def slot_vectors(embedding: nn.Embedding, words: SlotWords, patch_labels: torch.Tensor,
                 region_labels: torch.Tensor) -> torch.Tensor:
    """[..., hidden]: what each image slot holds when the scene is written in words, the sum of its object's
    colour, shape and region word embeddings (zero for the background)."""
    return (patch_word_vectors(embedding, words.objects)[patch_labels]
            + patch_word_vectors(embedding, words.regions)[region_labels])


def reading_embeds(embedding: nn.Embedding, batch: ReadingBatch, words: SlotWords) -> torch.Tensor:
    """Input embeddings of a reading batch: token embeddings, with the image slots holding the scene's words."""
    embeds = embedding(batch.sequences.input_ids)
    slots = slot_vectors(embedding, words, batch.patch_labels.flatten(), batch.region_labels.flatten())
    return embeds.masked_scatter(batch.sequences.image_token_mask[..., None], slots.to(embeds.dtype))


def question_turns(scene: Scene, rng: np.random.Generator, image_token: str,
                   categories: Sequence[str] = CATEGORIES) -> list[dict[str, str]]:
    """3-6 of the shapes world's questions of ``categories`` about the scene (some as multiple choice) with their
    answers, the image token in the first; no captioning requests, whose long answers teach no retrieval."""
    messages = []
    for index, (asked, answered) in enumerate(questions(scene, int(rng.integers(3, 7)), rng, categories)):
        messages.append({"role": "User", "content": f"{image_token}\n{asked}" if index == 0 else asked})
        messages.append({"role": "Assistant", "content": answered})
    return messages


def read_batch(items: Sequence[tuple[Scene, list[dict[str, str]]]], processor: JanusFlowProcessor) -> ReadingBatch:
    """(scene, conversation with one image) pairs, encoded and padded, with the scenes' patch labels."""
    grid = int(round(processor.num_image_tokens ** 0.5))
    if grid * grid != processor.num_image_tokens:
        raise ValueError(f"{processor.num_image_tokens} image tokens are not a square grid of patches.")
    sequences: list[EncodedSequence] = []
    for _, messages in items:
        encoded = processor.encode_conversation(messages, truncate=True)
        if encoded.num_images != 1:
            raise ValueError(f"a reading conversation needs one {processor.image_token} (in its first User message); "
                             f"it holds {encoded.num_images}.")
        sequences.append(EncodedSequence(encoded.input_ids, encoded.labels, num_images=0))
    batch = processor.pad_sequences(sequences, padding_side="right")
    return ReadingBatch(batch, torch.tensor([patch_labels(scene, grid) for scene, _ in items], dtype=torch.long),
                        torch.tensor([region_labels(scene, grid) for scene, _ in items], dtype=torch.long))


def reading_batches(config: ShapesWorldConfig, processor: JanusFlowProcessor, batch_size: int,
                    curriculum: Sequence[ReadingPhase] = (ReadingPhase(),)) -> Iterator[ReadingBatch]:
    """Right-padded batches of scene-reading conversations (labels on the answers only), phase after phase of
    ``curriculum``, never ending; the same for the same ``config.seed``. Held-out scene signatures never appear."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    check_curriculum(curriculum)
    rng = world_rng(config, PURPOSE)
    stream = scenes(config, PURPOSE, "train", count=None)
    for phase in curriculum:
        made = 0
        while phase.steps is None or made < phase.steps:
            items: list[tuple[Scene, list[dict[str, str]]]] = []
            while len(items) < batch_size:  # a scene may have no question of the categories (no colour question)
                scene = next(stream)
                turns = question_turns(scene, rng, processor.image_token, phase.categories)
                if turns:
                    items.append((scene, turns))
            made += 1
            yield read_batch(items, processor)


def heldout_reading(scenes_by_id: dict[str, dict], held_questions: Sequence[dict],
                    processor: JanusFlowProcessor) -> dict[str, ReadingBatch]:
    """The held-out questions (``vqa.jsonl`` rows), each asked about its scene (``scenes_by_id``: scene graphs by
    id) written in patch words, one padded batch per category."""
    grouped: dict[str, list[tuple[Scene, list[dict[str, str]]]]] = {}
    for q in held_questions:
        messages = [{"role": "User", "content": f"{processor.image_token}\n{q['question']}"},
                    {"role": "Assistant", "content": q["answer"]}]
        grouped.setdefault(q["category"], []).append((Scene.from_dict(scenes_by_id[q["scene_id"]]), messages))
    return {category: read_batch(items, processor) for category, items in sorted(grouped.items())}


@torch.no_grad()
def answer_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of rows whose every labelled token is the argmax of the logits one position earlier (teacher-forced
    exact match; each held-out row holds one answer)."""
    predicted, target = logits[:, :-1].argmax(-1), labels[:, 1:]
    right = ((predicted == target) | (target < 0)).all(1)
    return float(right.float().mean())


def reading_logits(model: LlamaForCausalLM, batch: ReadingBatch, words: SlotWords) -> torch.Tensor:
    embeds = reading_embeds(model.get_input_embeddings(), batch, words)
    return model(inputs_embeds=embeds, attention_mask=batch.sequences.attention_mask, use_cache=False).logits


@torch.no_grad()
def reading_accuracy(model: LlamaForCausalLM, heldout: dict[str, ReadingBatch],
                     words: SlotWords) -> dict[str, float]:
    """Teacher-forced exact match of the held-out reading answers, per category and their mean."""
    model.eval()
    scores = {category: round(answer_accuracy(reading_logits(model, batch, words), batch.sequences.labels), 4)
              for category, batch in heldout.items()}
    model.train()
    return {**scores, "mean": round(sum(scores.values()) / max(1, len(scores)), 4)}


def reading_loss(model: LlamaForCausalLM, batch: ReadingBatch, words: SlotWords) -> torch.Tensor:
    """Cross-entropy on the answers (and their EOS) of a reading batch."""
    logits = reading_logits(model, batch, words)
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), batch.sequences.labels[:, 1:].flatten())


@dataclass
class SceneReading:
    """What the LLM foundation reads beside its text: training batches, held-out batches by category, slot words."""

    batches: Iterator[ReadingBatch]
    heldout: dict[str, ReadingBatch]
    words: SlotWords
