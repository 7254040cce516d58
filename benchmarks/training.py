"""Training-loop overhead: Composer's Trainer vs a minimal hand-written PyTorch loop, same model, batches,
objective and precision.

Both run the tiny profile's model (random weights, params.yaml sizes) on the same pre-built stage-2 mixed
batches (14:80:6 und:gen:text, 64 px), the same ``Objective`` (AR + RF + REPA) with the same per-step noise,
AdamW (0.9, 0.95), gradient clipping 1.0, fp32 on CPU. Composer adds its event loop, timestamps, metric
logging and the clipping algorithm; checkpointing, EMA and evaluation are off in both. Rounds alternate
between the two loops; the reported rate is the median over rounds.

    python benchmarks/training.py [--batch-size 16] [--steps 40] [--rounds 3] [--out benchmarks/results/training_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from composer import Trainer
from composer.algorithms import GradientClipping
from composer.core import DataSpec
from training_full_size import synthetic_batch

from janusflow.config import tiny_config
from janusflow.modeling import JanusFlowModel
from janusflow.pipeline import JanusFlowPipeline
from janusflow.processor import JanusFlowProcessor
from janusflow.tokenizer import train_byte_level_bpe
from janusflow.training.callbacks import StepSeed
from janusflow.training.composer_model import JanusFlowComposerModel
from janusflow.training.microbatches import num_samples, split_batch
from janusflow.training.objective import step_generator
from janusflow.vae import LatentCodec, tiny_vae
from settings.params import load_params

CORPUS = ["a photo of two red circles", "a blue square left of a green triangle", "What colour is it?"] * 20


def build(batch_size: int, steps: int) -> tuple[JanusFlowComposerModel, list[dict]]:
    tiny = load_params().select("tiny")
    tokenizer = train_byte_level_bpe(CORPUS, vocab_size=tiny.foundations.tokenizer.vocab_size)
    config = tiny_config(tiny.model, len(tokenizer))
    torch.manual_seed(0)
    model = JanusFlowModel(config)
    codec = LatentCodec(tiny_vae(sample_size=config.und_encoder_spec().image_size,
                                 channels=tiny.foundations.vae.channels, attention=False))
    processor = JanusFlowProcessor.for_model(tokenizer, config)
    composer_model = JanusFlowComposerModel(JanusFlowPipeline(model, processor, codec))
    batch = synthetic_batch(batch_size, config.und_encoder_spec().image_size, config.und_encoder_spec().num_tokens,
                            config.llama_config().vocab_size, "cpu")
    return composer_model, [batch] * steps


def hand_loop(composer_model: JanusFlowComposerModel, batches: list[dict], first_step: int) -> float:
    model = composer_model.model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0)
    composer_model.train()
    started = time.perf_counter()
    for index, batch in enumerate(batches):
        loss = composer_model.objective(batch, step_generator(0, 0, first_step + index))["total"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return len(batches) / (time.perf_counter() - started)


def composer_loop(composer_model: JanusFlowComposerModel, batches: list[dict], warmup: list[dict]) -> float:
    params = [p for p in composer_model.model.parameters() if p.requires_grad]
    trainer = Trainer(model=composer_model, optimizers=torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95)),
                      algorithms=[GradientClipping("norm", 1.0)], callbacks=[StepSeed()], device="cpu", precision="fp32",
                      progress_bar=False, log_to_console=False, loggers=[], seed=0,
                      device_train_microbatch_size=num_samples(batches[0]))

    def spec(items: list[dict]) -> DataSpec:
        return DataSpec(items, get_num_samples_in_batch=num_samples, split_batch=split_batch)

    trainer.fit(train_dataloader=spec(warmup), duration=f"{len(warmup)}ba")
    started = time.perf_counter()
    trainer.fit(train_dataloader=spec(batches), duration=f"{len(batches)}ba")
    rate = len(batches) / (time.perf_counter() - started)
    trainer.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/training_cpu.json")
    args = parser.parse_args()
    composer_model, batches = build(args.batch_size, args.steps)
    warmup = batches[:5]
    rates: dict[str, list[float]] = {"hand_loop": [], "composer": []}
    for round_index in range(args.rounds):
        hand_loop(composer_model, warmup, 0)
        rates["hand_loop"].append(hand_loop(composer_model, batches, len(warmup)))
        rates["composer"].append(composer_loop(composer_model, batches, warmup))
        print(f"round {round_index + 1}: hand loop {rates['hand_loop'][-1]:.2f} steps/s, "
              f"Composer {rates['composer'][-1]:.2f} steps/s", flush=True)
    hand, composer = statistics.median(rates["hand_loop"]), statistics.median(rates["composer"])
    result = {"batch_size": args.batch_size, "steps": args.steps, "rounds": args.rounds, "precision": "fp32",
              "device": "cpu", "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
              "hand_loop_steps_per_s": round(hand, 3), "composer_steps_per_s": round(composer, 3),
              "composer_overhead": round(hand / composer - 1, 4), "rates": rates}
    print(f"median: hand loop {hand:.2f} steps/s, Composer {composer:.2f} steps/s, overhead "
          f"{100 * result['composer_overhead']:.1f}% (target at most 5%)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
