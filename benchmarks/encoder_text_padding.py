"""The encoder foundation's text tower: padding each batch to its longest alt-text against padding to the context.

The SigLIP-style foundation embeds every batch's captions and their shape-swapped negatives (``train_siglip``).
The baseline pads both to the text tower's context (64 tokens, what ``tokenize`` did before); ``tokenize`` now pads
to the batch's longest text (alt-text is about 14 tokens). Both run forward and backward on the same batches of
the tiny profile's alt-text stream in the same process, with the image tower's step beside them for scale.

    python benchmarks/encoder_text_padding.py [--steps 20] [--out benchmarks/results/encoder_text_padding_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from data.shapes.alt_text import alt_text_batches
from janusflow.foundations.build import BuildContext
from janusflow.foundations.siglip import SiglipDualEncoder, TextTowerSpec, patch_loss, swap_shapes, tokenize
from settings.params import load_params


def context_padded(tokenizer, texts: list[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The baseline: ``tokenize``'s rows, right-padded to the full context."""
    ids, mask = tokenize(tokenizer, texts, length)
    width = length - ids.shape[1]
    return (torch.nn.functional.pad(ids, (0, width), value=tokenizer.pad_token_id),
            torch.nn.functional.pad(mask, (0, width)))


def seconds_per_step(step, batches: list, repeats: int) -> float:
    step(batches[0])
    started = time.perf_counter()
    for _ in range(repeats):
        for batch in batches:
            step(batch)
    return (time.perf_counter() - started) / (repeats * len(batches))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default="benchmarks/results/encoder_text_padding_cpu.json")
    args = parser.parse_args()
    ctx = BuildContext(load_params(args.params).select("tiny"), False)
    tokenizer = ctx.tokenizer()
    spec = ctx.config(len(tokenizer)).und_encoder_spec()
    text = TextTowerSpec(vocab_size=len(tokenizer), **asdict(ctx.settings.encoder.text_tower))
    pairs = alt_text_batches(replace(ctx.data.shapes_world, resolution=spec.image_size),
                             ctx.settings.encoder.training.batch_size, spec.grid)
    batches = [next(pairs) for _ in range(args.steps)]
    rng = random.Random(0)
    negatives = [[swap_shapes(c, rng) or c for c in captions] for _, captions, _ in batches]
    torch.manual_seed(0)
    model = SiglipDualEncoder(spec, text)

    def text_step(pad):
        def step(index: int) -> None:
            _, captions, _ = batches[index]
            loss = sum(model.embed_texts(*pad(tokenizer, texts, text.context_length)).sum()
                       for texts in (captions, negatives[index]))
            loss.backward()
        return step

    def image_step(index: int) -> None:
        images, _, labels = batches[index]
        patches = model.image_tower(images)
        (model.embed_patches(patches).sum() + patch_loss(model.patch_head(patches), labels)).backward()

    indices = list(range(args.steps))
    result = {
        "torch_threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
        "batch_size": ctx.settings.encoder.training.batch_size, "context_length": text.context_length,
        "text_tokens_mean": sum(int(tokenize(tokenizer, c, text.context_length)[1].sum()) for _, c, _ in batches)
                            / sum(len(c) for _, c, _ in batches),
        "longest_text_mean": sum(tokenize(tokenizer, c, text.context_length)[0].shape[1] for _, c, _ in batches)
                             / args.steps,
        "text_step_s_context_padded": seconds_per_step(text_step(context_padded), indices, 2),
        "text_step_s_longest_padded": seconds_per_step(text_step(tokenize), indices, 2),
        "image_step_s": seconds_per_step(image_step, indices, 2),
    }
    result["text_speedup"] = round(result["text_step_s_context_padded"] / result["text_step_s_longest_padded"], 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
