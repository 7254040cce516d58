"""What a generation training step spends on the frozen VAE and the REPA target: the pipeline's step (``Objective``:
the batch's images encoded to latents and the understanding encoder's REPA target computed at every step) against
the same step on latents and targets computed once (what a cached-latents node would feed it).

The tiny profile's model (random weights, params.yaml sizes), a batch of generation samples only (64 px), the
same RF + REPA loss and per-step noise, forward and backward, fp32 on CPU; rounds alternate between the two; the
reported time is the median over rounds.

    python benchmarks/generation_step.py [--batch-size 16] [--steps 20] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from training import build

from janusflow.losses import generation_losses
from janusflow.processor import GenerationPrefix
from janusflow.training.composer_model import JanusFlowComposerModel
from janusflow.training.objective import step_generator


def gen_only(batch: dict) -> dict:
    return {"tasks": ["gen"] * len(batch["gen"]["pixel_values"]), "gen": batch["gen"]}


def pipeline_steps(composer_model: JanusFlowComposerModel, batch: dict, steps: int) -> float:
    """Seconds per step as the stages train: VAE encode and REPA target inside every step."""
    started = time.perf_counter()
    for step in range(steps):
        composer_model.objective(batch, step_generator(0, 0, step))["total"].backward()
    return (time.perf_counter() - started) / steps


def cached_steps(composer_model: JanusFlowComposerModel, batch: dict, steps: int) -> float:
    """Seconds per step on latents and REPA targets computed once, before the loop."""
    model, codec, gen = composer_model.model, composer_model.codec, batch["gen"]
    with torch.no_grad():
        latents = codec.encode(gen["pixel_values"], torch.Generator().manual_seed(0))
        target = model.repa_target(gen["pixel_values"]) if model.repa_head is not None else None
    prefix = GenerationPrefix(input_ids=gen["prefix_ids"], attention_mask=gen["prefix_attention"])
    pad = int(composer_model.processor.tokenizer.pad_token_id)
    started = time.perf_counter()
    for step in range(steps):
        out = generation_losses(model, prefix, latents, target, pad, step_generator(0, 0, step))
        (out.rf + (out.repa if out.repa is not None else 0.0)).backward()
    return (time.perf_counter() - started) / steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/generation_step_cpu.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    composer_model, batches = build(args.batch_size * 2, 1)  # a mixed batch twice the size holds enough gen samples
    batch = gen_only(batches[0])
    batch["gen"] = {k: v[: args.batch_size] for k, v in batch["gen"].items()}
    batch["tasks"] = batch["tasks"][: args.batch_size]
    composer_model.train()
    pipeline_steps(composer_model, batch, 2)  # warm-up
    cached_steps(composer_model, batch, 2)
    rounds = [(pipeline_steps(composer_model, batch, args.steps), cached_steps(composer_model, batch, args.steps))
              for _ in range(args.rounds)]
    pipeline, cached = (statistics.median(r[i] for r in rounds) for i in (0, 1))
    result = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "threads": args.threads, "batch_size": args.batch_size, "steps": args.steps, "rounds": args.rounds,
              "pipeline_seconds_per_step": round(pipeline, 4), "cached_seconds_per_step": round(cached, 4),
              "share_in_vae_and_repa_target": round(1 - cached / pipeline, 3), "speedup": round(pipeline / cached, 3)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
