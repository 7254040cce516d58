"""How fast the tiny generator learns to draw its prompt, without the pipeline around it: the research loop behind
docs/generation.md.

A variant's stage-1 model is built from the foundations. It then trains on the generation pairs only, with RF and
REPA, on VAE latents encoded once (posterior mean and std, sampled per step). Every ``--eval-every`` steps the
EMA weights are scored on the profile's shapes GenEval at each ``--cfg`` weight, with the evaluation's sampler and
judge. Each evaluation also prints the "prompt gap": the RF loss with each pair's own prompt against the prompts
rolled by one, at fixed times and noise. If the two are equal, the generator ignores its prompt.

    python scripts/generation_learning_curve.py --out artifacts/tiny/research/lr3e-3 --lr 3e-3 --cfg 2 5

Needs the data and foundations (``dvc repro foundation_vae foundation_llm foundation_encoder``). About 0.2 s per
step on one CPU thread, and 45 s per GenEval evaluation (192 images).
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from streaming import StreamingDataset

from data.streaming import image_tensor
from evals.generation.harness import SampleSettings, sample_prompt_set
from evals.generation.runner import judge_geneval
from evals.run import EvalRun
from janusflow.losses import generation_losses, rectified_flow_pair
from janusflow.modeling import JanusFlowModel
from janusflow.processor import JanusFlowProcessor
from janusflow.sampling import FlowSampler
from janusflow.training.run import StageRun
from janusflow.training.stages import NEW_PARTS, set_trainable
from janusflow.vae import LatentCodec
from settings.cli import command_parser, parse_with_profile
from settings.params import load_params

GAP_TIMES = (0.1, 0.3, 0.5, 0.8)


@dataclass
class Pairs:
    """The generation pairs as the loop needs them: prompt ids, latent posterior (mean, std), REPA targets."""

    ids: list[list[int]]
    mean: torch.Tensor
    std: torch.Tensor
    repa: torch.Tensor

    def latents(self, rows: torch.Tensor, generator: torch.Generator, scale: float) -> torch.Tensor:
        return (self.mean[rows] + self.std[rows] * torch.randn(self.mean[rows].shape, generator=generator)) * scale


@torch.no_grad()
def encode_pairs(shards: Path, model: JanusFlowModel, codec: LatentCodec, processor: JanusFlowProcessor,
                 template: str, short_only: bool) -> Pairs:
    dataset = StreamingDataset(local=str(shards), remote=None, shuffle=False, batch_size=1)
    rows = [dataset[i] for i in range(len(dataset))]
    if short_only:  # the GenEval-style captions ("a photo of ..."), not the detailed ones
        rows = [row for row in rows if len(row["caption"].split()) <= 12]
    pixels = torch.stack([image_tensor(row["image"]) for row in rows])
    posteriors = [codec.vae.encode(pixels[i:i + 128]).latent_dist for i in range(0, len(pixels), 128)]
    return Pairs(ids=[processor.generation_prompt_ids(row["caption"], template, 1 + processor.num_image_tokens,
                                                      truncate=True) for row in rows],
                 mean=torch.cat([p.mean for p in posteriors]), std=torch.cat([p.std for p in posteriors]),
                 repa=torch.cat([model.repa_target(pixels[i:i + 128]) for i in range(0, len(pixels), 128)]))


@torch.no_grad()
def prompt_gap(model: JanusFlowModel, processor: JanusFlowProcessor, pairs: Pairs, scale: float,
               count: int = 256) -> dict[str, list[float]]:
    """RF loss at each of ``GAP_TIMES`` on the first ``count`` pairs: own prompts against prompts rolled by one."""
    generator = torch.Generator().manual_seed(123)
    rows = torch.arange(min(count, len(pairs.ids)))
    latents = pairs.latents(rows, generator, scale)
    noise = torch.randn(latents.shape, generator=generator)
    gap = {}
    for name, order in (("own", rows), ("rolled", rows.roll(-1))):
        prefix = processor.pad_generation_prompts([pairs.ids[i] for i in order])
        losses = []
        for value in GAP_TIMES:
            t = torch.full((len(rows),), value)
            z_t, target = rectified_flow_pair(latents, noise, t)
            velocity = model.velocity(prefix.input_ids, prefix.attention_mask, prefix.attention_mask, z_t, t).velocity
            losses.append(round(float((velocity - target).pow(2).mean()), 4))
        gap[name] = losses
    return gap


def rate_factor(step: int, warmup: int, steps: int, schedule: str, decay_from: int = 0) -> float:
    """The learning rate's multiple of its peak: linear warmup, then constant, or constant until ``decay_from``
    (at least the warmup) and a cosine down to zero at ``steps``."""
    if step < warmup:
        return step / warmup
    start = max(warmup, decay_from)
    if schedule == "constant" or step < start:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * (step - start) / max(1, steps - start)))


def geneval(model: JanusFlowModel, processor: JanusFlowProcessor, codec: LatentCodec, prompts: list[dict],
            folder: Path, cfg_weight: float, template: str) -> dict:
    settings = SampleSettings(steps=30, cfg_weight=cfg_weight, seed=0, images_per_prompt=4, batch_size=64,
                              template=template)
    sample_prompt_set(FlowSampler(model, processor, codec), prompts, folder, settings, "learning curve",
                      progress=False)
    scores = judge_geneval(folder / "geneval", progress=False)
    return {key: value for key, value in scores.items() if key not in ("prompts_without_images",)}


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(__doc__)
    parser.add_argument("--out", required=True, help="folder for the samples and curve.json")
    parser.add_argument("--variant", default="E", help="whose stage-1 model (REPA, encoders) to start from")
    parser.add_argument("--steps", type=int, default=1200, help="training steps")
    parser.add_argument("--batch-size", type=int, default=16, help="image-caption pairs per step")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate, reached after --warmup")
    parser.add_argument("--schedule", default="constant", choices=["constant", "cosine"],
                        help="after warmup: hold the peak, or decay it to zero by --steps")
    parser.add_argument("--decay-from", type=int, default=0,
                        help="with --schedule cosine: hold the peak until this step, then decay (default: warmup)")
    parser.add_argument("--new-parts-lr", type=float, default=None,
                        help="a separate learning rate for the parts JanusFlow adds (default: --lr)")
    parser.add_argument("--warmup", type=int, default=20, help="steps of linear warmup")
    parser.add_argument("--ema-half-life", type=float, default=20.0, help="in steps")
    parser.add_argument("--p-uncond", type=float, default=0.1, help="share of prompts dropped for CFG")
    parser.add_argument("--short-only", action="store_true", help="train on the GenEval-style captions only")
    parser.add_argument("--template", default="sft", choices=["sft", "pretrain"], help="the prompt template")
    parser.add_argument("--cfg", type=float, nargs="+", default=[2.0], help="CFG weights to score")
    parser.add_argument("--eval-every", type=int, default=0, help="also score every N steps")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parse_with_profile(parser, argv)
    profile = args.profile
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    params = load_params(args.params)
    run = StageRun.from_params(params, profile, args.variant, "stage1")
    tokenizer = run.tokenizer()
    model = run.initial_model(len(tokenizer))
    processor = JanusFlowProcessor.for_model(tokenizer, model.config)
    codec = run.codec()
    pairs = encode_pairs(run.data.layout.shards.stream("gen"), model, codec, processor, args.template, args.short_only)
    prompts = EvalRun.from_params(params, profile).prompt_sets.geneval
    set_trainable(model, "all_but_understanding_encoder")
    groups = [{"params": [p for n, p in model.named_parameters() if p.requires_grad and (n.split(".")[0] in NEW_PARTS)
                          == new], "lr_scale": ((args.new_parts_lr or args.lr) / args.lr) if new else 1.0}
              for new in (False, True)]
    optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)
    ema = copy.deepcopy(model).eval()
    decay = 0.5 ** (1 / args.ema_half_life)
    generator = torch.Generator().manual_seed(0)
    curve, losses, started = [], [], time.perf_counter()
    print(f"{len(pairs.ids)} pairs; {args.steps} steps", flush=True)
    for step in range(1, args.steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = args.lr * group["lr_scale"] * rate_factor(step, args.warmup, args.steps, args.schedule, args.decay_from)
        rows = torch.randint(len(pairs.ids), (args.batch_size,), generator=generator)
        prefix = processor.pad_generation_prompts([pairs.ids[i] for i in rows])
        terms = generation_losses(model, prefix, pairs.latents(rows, generator, codec.scaling_factor),
                                  pairs.repa[rows] if model.repa_head is not None else None, processor.pad_id,
                                  generator, args.p_uncond)
        loss = terms.rf + (terms.repa if terms.repa is not None else 0.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
        optimizer.step()
        with torch.no_grad():
            for averaged, live in zip(ema.parameters(), model.parameters()):
                averaged.lerp_(live, 1 - decay)
        losses.append(float(terms.rf))
        if step % 100 == 0:
            print(f"step {step}: rf {sum(losses[-100:]) / 100:.4f} ({time.perf_counter() - started:.0f} s)", flush=True)
        if step == args.steps or (args.eval_every and step % args.eval_every == 0):
            point = {"step": step, "rf": round(sum(losses[-100:]) / len(losses[-100:]), 4),
                     "prompt_gap": prompt_gap(ema, processor, pairs, codec.scaling_factor),
                     "geneval": {f"cfg{w:g}": geneval(ema, processor, codec, prompts, out / f"step{step}_cfg{w:g}",
                                                      w, args.template) for w in args.cfg}}
            curve.append(point)
            print(json.dumps(point), flush=True)
    (out / "curve.json").write_text(json.dumps({"args": vars(args), "curve": curve,
                                                "seconds": round(time.perf_counter() - started, 1)}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
