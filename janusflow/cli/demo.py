"""End-to-end demo of the model library on a tiny random JanusFlow, offline on CPU.

Trains a byte-level tokenizer on a few captions, builds a small model in the official format, saves and reloads
it through ``save_pretrained``/``from_pretrained``, generates images for several prompts in one batched call
(rectified flow, CFG, cached prefix), asks a question about one of them, and writes everything to one folder.
The weights are random, so the images are noise and the answer is gibberish; the point is that every path runs.

    python -m janusflow.cli.demo --out artifacts/demo
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from janusflow.config import tiny_config
from janusflow.modeling import JanusFlowModel
from janusflow.processor import JanusFlowProcessor
from janusflow.sampling import FlowSampler
from janusflow.tokenizer import train_byte_level_bpe
from janusflow.understanding import answer
from janusflow.vae import LatentCodec, tiny_vae
from settings.cli import sampling_options, sampling_overrides
from settings.foundations import FoundationSettings
from settings.model import TinyModelSettings
from settings.params import DEFAULT_PARAMS, Profile, load_params
from settings.sampling import SamplingSettings
from settings.typed import SettingsError

PROMPTS = [
    "a photo of two red circles",
    "a blue square left of a green triangle",
    "a photo of a purple star",
    "an orange circle above a white square",
]
CORPUS = PROMPTS + [
    "What colour is the circle?", "The circle is red.", "How many squares are there?", "There are two squares.",
    "Is there a yellow triangle in the picture?", "Yes.", "No.", "Describe the picture.",
]


def run(out: Path, tiny: Profile, sampling: SamplingSettings) -> dict:
    """``tiny`` is the tiny profile (model sizes; tokenizer and VAE sizes from its foundations section)."""
    if not isinstance(tiny.model, TinyModelSettings) or not isinstance(tiny.foundations, FoundationSettings):
        raise SettingsError(f"the demo builds a tiny model; profile {tiny.name} names the official one.")
    seed = tiny.seed
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tokenizer = train_byte_level_bpe(CORPUS * 8, vocab_size=tiny.foundations.tokenizer.vocab_size)
    config = tiny_config(tiny.model, len(tokenizer))
    torch.manual_seed(seed)
    JanusFlowModel(config).save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")
    model = JanusFlowModel.from_pretrained(out / "model")
    processor = JanusFlowProcessor.for_model(tokenizer, config)
    vae = tiny_vae(seed=seed, sample_size=tiny.model.image_size, channels=tiny.foundations.vae.channels,
                   attention=False)
    sampler = FlowSampler(model, processor, LatentCodec(vae))

    t0 = time.perf_counter()
    samples = sampler.sample(PROMPTS, seeds=list(range(seed, seed + len(PROMPTS))), steps=sampling.steps,
                             cfg_weight=sampling.cfg_weight, template=sampling.template, progress=True)
    generation_s = time.perf_counter() - t0
    images = samples.to_pil()
    for i, image in enumerate(images):
        image.save(out / f"sample_{i:02d}.png")
    samples.grid(columns=len(images), size=128).save(out / "samples_grid.png")

    question = [{"role": "User", "content": "<image_placeholder>\nWhat colour is the circle?"}]
    t0 = time.perf_counter()
    reply = answer(model, processor, [question], [[images[0]]], max_new_tokens=16)[0]
    chat_s = time.perf_counter() - t0
    transcript = {"question": question[0]["content"], "image": "sample_00.png", "answer": reply}
    (out / "chat.json").write_text(json.dumps(transcript, indent=2, ensure_ascii=False) + "\n")

    summary = {
        "model_dir": str(out / "model"),
        "parameters": sum(p.numel() for p in model.parameters()),
        "prompts": PROMPTS,
        "steps": sampling.steps,
        "cfg_weight": sampling.cfg_weight,
        "images": [f"sample_{i:02d}.png" for i in range(len(images))],
        "generation_seconds": round(generation_s, 3),
        "chat_seconds": round(chat_s, 3),
        "total_seconds": round(time.perf_counter() - started, 3),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], parents=[sampling_options()])
    parser.add_argument("--out", type=Path, default=Path("artifacts/demo"), help="output folder")
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="params.yaml to read")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    summary = run(args.out, params.select("tiny"), params.sampling.with_overrides(sampling_overrides(args),
                                                                                  "the command line"))
    print(f"model ({summary['parameters']:,} parameters, official format): {summary['model_dir']}")
    print(f"{len(summary['images'])} images in {summary['generation_seconds']} s: {args.out / 'samples_grid.png'}")
    print(f"chat turn: {args.out / 'chat.json'}")
    print(f"outputs written to {args.out.resolve()}")


if __name__ == "__main__":
    main()
