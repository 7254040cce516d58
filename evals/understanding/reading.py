"""Can the tiny LLM learn, from text alone, to answer questions about a scene written in words? A scene-reading
experiment behind docs/evaluation.md: a fresh LLM of the foundation's size pretrains on the text corpus and, every
step beside it, on conversations about training-split scenes whose 64 image slots hold the scene's patch words
(``data.shapes.patch_words``) instead of image features, in exactly the chat layout the model later sees with
real images (the profile's chat system prompt included). A patch's "word" is the sum of the LLM's own input
embeddings of its object's colour, shape and region words (zero for the background), so the grid speaks the
vocabulary the questions use. The questions are the shapes world's
own (``data.shapes.conversations``, 3-6 per scene, no captioning requests), so their answers are exact; the
held-out accuracy (teacher-forced exact match, per category) uses the evaluation split's VQA questions.

If it learns quickly, stage 1 only has to map the encoder's patches onto the same vectors (the encoder's
patch-word head says which vector belongs where). docs/evaluation.md gives the curves this command prints.

    python -m evals.understanding.reading --foundations artifacts/tiny/foundations --steps 600 \
        [--initializer-range 0.02] [--categories existence]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoTokenizer, LlamaForCausalLM, PreTrainedTokenizerBase

from data.profile import DataProfile
from data.settings import load_profile
from data.shapes.conversations import CATEGORIES, questions
from data.shapes.patch_words import PATCH_WORDS, REGION_WORDS, patch_labels, region_labels
from data.shapes.scene import Scene
from data.shapes.world import ShapesWorldConfig, scenes
from janusflow.config import tiny_janusflow_config
from janusflow.foundations.corpus import load_heldout, training_texts
from janusflow.foundations.language_model import pack
from janusflow.foundations.settings import FoundationSettings
from janusflow.processor import EncodedSequence, JanusFlowProcessor, SequenceBatch

PURPOSE = "reading"
HELD_OUT_QUESTIONS = 800


@dataclass
class ReadingBatch:
    """Padded conversations and, per image slot in reading order, the index of its patch words and region words."""

    sequences: SequenceBatch
    patch_labels: torch.Tensor
    region_labels: torch.Tensor


@dataclass(frozen=True)
class SlotWords:
    """Token ids of every row of ``PATCH_WORDS`` and ``REGION_WORDS`` (``patch_word_ids``)."""

    objects: torch.Tensor
    regions: torch.Tensor

    @classmethod
    def of(cls, tokenizer: PreTrainedTokenizerBase) -> SlotWords:
        return cls(patch_word_ids(tokenizer, PATCH_WORDS), patch_word_ids(tokenizer, REGION_WORDS))


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


def reading_embeds(embedding: nn.Embedding, batch: ReadingBatch, words: SlotWords) -> torch.Tensor:
    """Input embeddings of a reading batch: token embeddings, with the image slots holding the patch words (an
    object's colour, shape and region words summed)."""
    embeds = embedding(batch.sequences.input_ids)
    slots = (patch_word_vectors(embedding, words.objects)[batch.patch_labels.flatten()]
             + patch_word_vectors(embedding, words.regions)[batch.region_labels.flatten()])
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
                    categories: Sequence[str] = CATEGORIES) -> Iterator[ReadingBatch]:
    """Right-padded batches of scene-reading conversations about ``categories`` (labels on the answers only),
    never ending; the same for the same ``config.seed``. Held-out scene signatures never appear."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    rng = config.rng(PURPOSE)
    stream = scenes(config, PURPOSE, "train", count=None)
    while True:
        items: list[tuple[Scene, list[dict[str, str]]]] = []
        while len(items) < batch_size:  # a scene may have no question of the categories (no colour question)
            scene = next(stream)
            turns = question_turns(scene, rng, processor.image_token, categories)
            if turns:
                items.append((scene, turns))
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


def train_reading(model: LlamaForCausalLM, batches: Iterator[ReadingBatch], text_rows: torch.Tensor,
                  heldout: dict[str, ReadingBatch], words: SlotWords, steps: int, learning_rate: float,
                  every: int = 100, seed: int = 0) -> list[dict]:
    """AdamW (50 warmup steps) on the reading answers plus next-token prediction on a batch of text rows each
    step; the held-out accuracy at step 0 and every ``every`` steps."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, betas=(0.9, 0.95), weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 50))
    generator = torch.Generator().manual_seed(seed)
    curve = []
    model.train()
    for step in range(steps + 1):
        if step % every == 0 or step == steps:
            curve.append({"step": step, **reading_accuracy(model, heldout, words)})
            print(json.dumps(curve[-1]), flush=True)
        if step == steps:
            break
        batch = next(batches)
        logits = reading_logits(model, batch, words)
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), batch.sequences.labels[:, 1:].flatten())
        rows = text_rows[torch.randint(0, len(text_rows), (len(batch.patch_labels),), generator=generator)]
        loss = loss + model(input_ids=rows, labels=rows).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    return curve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--foundations", default="artifacts/tiny/foundations", help="folder with tokenizer/")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--initializer-range", type=float, default=None,
                        help="the LLM's init std (default: params' foundations.llm.initializer_range)")
    parser.add_argument("--categories", default=",".join(CATEGORIES),
                        help="the question categories trained on, comma-separated (held-out: the same ones)")
    parser.add_argument("--out", default=None, help="a JSON file for the settings and the accuracy curve")
    args = parser.parse_args(argv)
    profile = load_profile(args.params, args.profile)
    data, settings = DataProfile.from_profile(profile), FoundationSettings.from_profile(profile)
    if data.shapes_world is None:
        raise SystemExit("scene reading needs the profile's data.shapes_world section.")
    tokenizer = AutoTokenizer.from_pretrained(Path(args.foundations) / "tokenizer")
    config = tiny_janusflow_config(vocab_size=len(tokenizer), **profile["model"])
    processor = JanusFlowProcessor.for_model(tokenizer, config)
    heldout = load_heldout(data.paths["raw"])
    categories = [c for c in args.categories.split(",") if c]
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown or not categories:
        raise SystemExit(f"--categories {args.categories!r}: choose from {', '.join(CATEGORIES)}.")
    words = SlotWords.of(tokenizer)
    asked = [q for q in heldout.questions if q["category"] in categories][:HELD_OUT_QUESTIONS]
    held = heldout_reading(dict(zip(heldout.scene_ids, heldout.scenes)), asked, processor)
    text_rows = pack(training_texts(data.paths["shards"], data.paths["cache"]), tokenizer, settings.sequence_length)
    llama = config.llama_config()
    llama.initializer_range = args.initializer_range or settings.llm_initializer_range
    torch.manual_seed(settings.llm_training.seed)
    curve = train_reading(LlamaForCausalLM(llama),
                          reading_batches(data.shapes_world, processor, args.batch_size, categories),
                          text_rows, held, words, args.steps, args.learning_rate)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({**vars(args), "initializer_range": llama.initializer_range,
                                              "curve": curve}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
