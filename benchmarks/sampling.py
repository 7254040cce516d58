"""Sampling throughput: our sampler vs the official demo's behaviour, same model, seeds and settings.

Ours: the 8 prompts in one batched call, text prefix cached once, only [time token, latent tokens] per step.
Baseline (official demo): one prompt per call, the whole sequence (prefix + time + latents) recomputed at
every step. Both use CFG 2 and 30 Euler steps on CPU in float32; the images must match.

    python benchmarks/sampling.py [--repeats 3] [--out benchmarks/results/sampling_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from janusflow.config import tiny_janusflow_config
from janusflow.modeling import JanusFlowModel
from janusflow.processor import JanusFlowProcessor
from janusflow.sampling import FlowSampler
from janusflow.tokenizer import train_byte_level_bpe
from janusflow.vae import LatentCodec, tiny_vae

PROMPTS = [
    "a photo of two red circles",
    "a blue square left of a green triangle",
    "a photo of a purple star",
    "an orange circle above a white square",
    "three yellow triangles on a black background",
    "a pink square below a brown circle",
    "a photo of four green stars",
    "a white triangle right of a blue circle",
]
STEPS, CFG = 30, 2.0
MATCH_LATENT, MATCH_PIXEL = 1e-4, 1  # float32 matmul-shape noise; one uint8 level from rounding at .5


def build_sampler(seed: int = 0) -> FlowSampler:
    tokenizer = train_byte_level_bpe(PROMPTS * 8, vocab_size=384)
    config = tiny_janusflow_config(vocab_size=len(tokenizer))
    torch.manual_seed(seed)
    model = JanusFlowModel(config).eval()
    return FlowSampler(model, JanusFlowProcessor.for_model(tokenizer, config), LatentCodec(tiny_vae(seed=seed)))


def ours(sampler: FlowSampler, seeds: list[int]):
    return sampler.sample(PROMPTS, seeds, steps=STEPS, cfg_weight=CFG, template="sft")


def ours_one_prompt_per_call(sampler: FlowSampler, seeds: list[int]):
    return [sampler.sample([p], [s], steps=STEPS, cfg_weight=CFG, template="sft") for p, s in zip(PROMPTS, seeds)]


def official_demo_behaviour(sampler: FlowSampler, seeds: list[int]):
    outs = [sampler.sample([p], [s], steps=STEPS, cfg_weight=CFG, template="sft", cache_prefix=False)
            for p, s in zip(PROMPTS, seeds)]
    return torch.cat([o.latents for o in outs]), torch.cat([o.images for o in outs])


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sampling_cpu.json"))
    args = parser.parse_args()
    sampler = build_sampler()
    seeds = list(range(len(PROMPTS)))
    ours(sampler, seeds)  # warm-up
    t_ours, fast = timed(lambda: ours(sampler, seeds), args.repeats)
    t_single, _ = timed(lambda: ours_one_prompt_per_call(sampler, seeds), args.repeats)
    t_base, (base_latents, base_images) = timed(lambda: official_demo_behaviour(sampler, seeds), args.repeats)
    result = {
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "parameters": sum(p.numel() for p in sampler.model.parameters()),
        "prompts": len(PROMPTS), "steps": STEPS, "cfg_weight": CFG, "repeats": args.repeats,
        "ours_seconds": round(t_ours, 4),
        "ours_one_prompt_per_call_seconds": round(t_single, 4),
        "baseline_seconds": round(t_base, 4),
        "ours_images_per_second": round(len(PROMPTS) / t_ours, 3),
        "baseline_images_per_second": round(len(PROMPTS) / t_base, 3),
        "speedup": round(t_base / t_ours, 2),
        "max_latent_abs_diff": float((fast.latents - base_latents).abs().max()),
        "max_pixel_abs_diff_uint8": int((fast.images.int() - base_images.int()).abs().max()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| sampler | images/s | seconds for 8 images |\n| --- | --- | --- |")
    print(f"| official demo behaviour (recompute, 1 prompt/call) | {result['baseline_images_per_second']} | {result['baseline_seconds']} |")
    print(f"| prefix cache only (1 prompt/call) | {round(len(PROMPTS) / t_single, 3)} | {round(t_single, 4)} |")
    print(f"| ours (prefix cache, 8 prompts/call) | {result['ours_images_per_second']} | {result['ours_seconds']} |")
    print(f"speedup {result['speedup']}x; max |latent diff| {result['max_latent_abs_diff']:.2e}; "
          f"max |pixel diff| {result['max_pixel_abs_diff_uint8']} (uint8)")
    print(f"written to {args.out}")
    if result["max_latent_abs_diff"] > MATCH_LATENT or result["max_pixel_abs_diff_uint8"] > MATCH_PIXEL:
        raise SystemExit("images differ from the baseline beyond float32 rounding: the sampler is wrong")


if __name__ == "__main__":
    main()
