"""Full-size sampling time per image: JanusFlow-1.3B layout (random weights), 384x384, SDXL-VAE layout, bf16.

Weights are random (nothing downloads); the time per image depends only on the architecture and settings.
Batches hold distinct prompts; CFG 2, 30 Euler steps. ``--with-baseline`` also times the official demo's
behaviour (one prompt per call, whole sequence recomputed every step) on the same model.

    python benchmarks/sampling_full_size.py --device cuda --batch-sizes 1 8 --with-baseline
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from diffusers import AutoencoderKL

from janusflow.config import official_janusflow_1_3b_config, tiny_janusflow_config
from janusflow.modeling import JanusFlowModel
from janusflow.processor import JanusFlowProcessor
from janusflow.sampling import FlowSampler
from janusflow.tokenizer import train_byte_level_bpe
from janusflow.vae import LatentCodec, tiny_vae

PROMPTS = [
    "a photo of a red apple on a wooden table", "a blue bird sitting on a branch in the snow",
    "a cozy cabin in the mountains at sunset", "a bowl of ramen with an egg and green onions",
    "an astronaut riding a horse on the moon", "a watercolor painting of a lighthouse",
    "a close-up of a cat with green eyes", "a city street at night in the rain",
]


def sdxl_vae_layout() -> AutoencoderKL:
    """SDXL-VAE's architecture (4 levels, 8x downsampling, scaling 0.13025) with random weights."""
    return AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4, sample_size=1024,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        scaling_factor=0.13025,
    )


def build(config_name: str, device: str, dtype: torch.dtype) -> FlowSampler:
    tokenizer = train_byte_level_bpe(PROMPTS * 4, vocab_size=512)
    if config_name == "official":
        config, vae = official_janusflow_1_3b_config(), sdxl_vae_layout()
    else:
        config, vae = tiny_janusflow_config(vocab_size=len(tokenizer)), tiny_vae()
    torch.manual_seed(0)
    with torch.device(device):
        model = JanusFlowModel(config)
    model = model.to_dtype(dtype).eval()
    codec = LatentCodec(vae.to(device=device, dtype=dtype))
    return FlowSampler(model, JanusFlowProcessor.for_model(tokenizer, config), codec)


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def seconds(fn, device: str) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--config", default="official", choices=["official", "tiny"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--cfg-weight", type=float, default=2.0)
    parser.add_argument("--with-baseline", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sampler = build(args.config, args.device, getattr(torch, args.dtype))
    run = {"steps": args.steps, "cfg_weight": args.cfg_weight, "template": "sft"}
    sampler.sample(PROMPTS[:1], [0], steps=2, cfg_weight=args.cfg_weight, template="sft")  # warm-up (kernels, allocator)
    rows = []
    for batch in args.batch_sizes:
        prompts = (PROMPTS * (batch // len(PROMPTS) + 1))[:batch]
        t = seconds(lambda: sampler.sample(prompts, list(range(batch)), **run), args.device)
        rows.append({"sampler": "ours", "batch": batch, "seconds": round(t, 3), "seconds_per_image": round(t / batch, 4)})
        print(f"ours      batch {batch}: {t:.3f} s, {t / batch:.4f} s/image")
    if args.with_baseline:
        t = seconds(lambda: sampler.sample(PROMPTS[:1], [0], cache_prefix=False, **run), args.device)
        rows.append({"sampler": "official demo behaviour", "batch": 1, "seconds": round(t, 3),
                     "seconds_per_image": round(t, 4)})
        print(f"baseline  batch 1: {t:.3f} s/image")
    result = {
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device,
        "dtype": args.dtype, "config": args.config,
        "parameters": sum(p.numel() for p in sampler.model.parameters()),
        "image_size": sampler.processor.image_size, **run, "results": rows,
    }
    out = args.out or Path(f"benchmarks/results/sampling_full_size_{args.config}_{args.device.split(':')[0]}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
