"""Foundation 2: the tiny profile's LLM, a LlamaForCausalLM pretrained by next-token prediction on text,
captions and conversations, and, beside them, on scene reading (questions about a scene written in words in the
image slots, ``janusflow.foundations.reading``); measured by held-out perplexity against a unigram baseline and
by held-out reading accuracy."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from janusflow.foundations.metrics import perplexity, unigram_perplexity
from janusflow.foundations.reading import SceneReading, reading_accuracy, reading_loss
from janusflow.foundations.training import random_indices, train
from settings.foundations import TrainingSettings


def pack(texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, length: int) -> torch.Tensor:
    """BOS + text + EOS for every text, concatenated and cut into rows of ``length`` (the remainder dropped)."""
    stream: list[int] = []
    for text in texts:
        stream += [tokenizer.bos_token_id, *tokenizer.encode(text, add_special_tokens=False), tokenizer.eos_token_id]
    rows = len(stream) // length
    if rows == 0:
        raise ValueError(f"{len(stream)} tokens cannot fill one sequence of {length}; give more text or a shorter "
                         "sequence_length.")
    return torch.tensor(stream[: rows * length]).view(rows, length)


@torch.no_grad()
def heldout_nll(model: LlamaForCausalLM, rows: torch.Tensor, batch_size: int = 64) -> tuple[float, int]:
    """Summed next-token negative log-likelihood over ``rows`` and the number of predicted tokens."""
    total, count = 0.0, 0
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        logits = model(input_ids=batch).logits[:, :-1]
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="sum").item()
        count += batch[:, 1:].numel()
    return total, count


def step_loss(model: LlamaForCausalLM, rows: torch.Tensor,
              reading: SceneReading | None) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """One step's loss: next-token prediction on the text ``rows`` drawn and, with ``reading``, the answers of the
    next scene-reading batch."""
    def loss_on(indices: torch.Tensor, _: torch.Generator) -> torch.Tensor:
        batch = rows[indices]
        loss = model(input_ids=batch, labels=batch).loss
        return loss if reading is None else loss + reading_loss(model, next(reading.batches), reading.words)
    return loss_on


def pretrain_language_model(config: LlamaConfig, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
                            heldout: Sequence[str], settings: TrainingSettings, sequence_length: int,
                            out: str | Path, progress: bool = True, reading: SceneReading | None = None) -> dict:
    """Train from scratch (seeded), each step on a batch of text rows and, with ``reading``, a batch of
    scene-reading conversations; save with ``save_pretrained`` (config.json + model.safetensors), report held-out
    perplexity next to the unigram baseline and the held-out reading accuracy per question category."""
    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    model = LlamaForCausalLM(config)
    rows = pack(texts, tokenizer, sequence_length)
    held = pack(heldout, tokenizer, sequence_length)

    curve = train(model, step_loss(model, rows, reading), random_indices(len(rows), settings.batch_size), settings,
                  "foundation: language model", progress)
    nll, count = heldout_nll(model, held)
    read = {} if reading is None else reading_accuracy(model, reading.heldout, reading.words)
    model.save_pretrained(out, safe_serialization=True)
    ppl = perplexity(nll, count)
    unigram = unigram_perplexity(rows[:, 1:].reshape(-1).tolist(), held[:, 1:].reshape(-1).tolist(), len(tokenizer))
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_tokens": rows.numel(), "heldout_tokens": count,
        "first_loss": round(curve[0], 4), "final_loss": round(sum(curve[-20:]) / len(curve[-20:]), 4),
        "heldout_perplexity": round(ppl, 3), "unigram_perplexity": round(unigram, 3),
        "perplexity_ratio": round(ppl / unigram, 4),
        **{f"reading_{name}": value for name, value in read.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
