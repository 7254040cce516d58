"""Full-size stage-2 training step: JanusFlow-1.3B layout (random weights), one GPU, bf16 autocast over fp32
weights (Composer's amp_bf16), AdamW (0.9, 0.95), gradient clipping 1.0, everything but SigLIP trainable.

A batch holds the stage-2 mix (14:80:6 und:gen:text) at 384 px: generation samples are a 64-token prompt, the
time token and 576 latent tokens; understanding samples 576 image tokens in a 704-token chat; text samples 704
tokens. The frozen SDXL-layout VAE encodes the images every step, as in training. FLOPs are counted on one step
by ``torch.utils.flop_counter.FlopCounterMode`` (forward and backward, no recomputation, so model FLOPs), and
MFU = FLOPs per step / step time / peak (989.4 TFLOP/s: H100 SXM dense bf16).

``--fsdp`` trains as the paper profile does: FSDP with one unit per decoder layer (here over one process, so
nothing is sharded), parameters gathered in bf16 for compute, fp32 master weights, gradients and buffers.
``--fsdp2`` trains as ``parallelism: fsdp2`` does: FSDP2's ``fully_shard`` on each decoder layer and on the root,
bf16 parameters for compute and fp32 gradient reduction; with ``--compile`` each decoder layer is compiled before
it is sharded (``JanusFlowModel.compile_decoder_layers``), as ``training.speed.compile_layers`` does.
``--channels-last``, ``--fused-ce ROWS`` and ``--precomputed-latents`` are params.yaml ``training.speed``'s options
(the latents' posteriors are encoded once before the timed steps, as the latents node stores them; the VAE's
FLOPs then leave the count, so compare tokens per second).

    python benchmarks/training_full_size.py --device cuda --batch-sizes 8 16 [--fsdp | --fsdp2] [--compile] \
        [--channels-last] [--fused-ce 4096] [--precomputed-latents]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from sampling_full_size import sdxl_vae_layout
from torch.distributed.fsdp import (
    FullyShardedDataParallel,
    MixedPrecision,
    MixedPrecisionPolicy,
    ShardingStrategy,
    fully_shard,
)
from torch.distributed.fsdp.wrap import ModuleWrapPolicy
from torch.utils.flop_counter import FlopCounterMode
from transformers.models.llama.modeling_llama import LlamaDecoderLayer

from janusflow.config import official_janusflow_1_3b_config, tiny_janusflow_config
from janusflow.modeling import JanusFlowModel
from janusflow.training.objective import Objective, step_generator
from janusflow.vae import LatentCodec, tiny_vae
from settings.training import fsdp_mixed_precision

PROMPT_TOKENS, CHAT_TOKENS, ANSWER_TOKENS = 64, 704, 64


def synthetic_batch(batch: int, image: int, image_tokens: int, vocab: int, device: str) -> dict:
    """A stage-2 mixed batch with the shapes of real samples (token ids are random)."""
    n_und, n_text = round(0.14 * batch), round(0.06 * batch)
    n_gen = batch - n_und - n_text
    g = torch.Generator().manual_seed(0)

    def sequences(n: int, with_image: bool) -> dict:
        ids = torch.randint(10, vocab, (n, CHAT_TOKENS), generator=g)
        labels = torch.full_like(ids, -100)
        labels[:, -ANSWER_TOKENS:] = ids[:, -ANSWER_TOKENS:]
        part = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels if with_image else ids}
        if with_image:
            image_mask = torch.zeros_like(ids, dtype=torch.bool)
            image_mask[:, 2:2 + image_tokens] = True
            begin = torch.zeros_like(image_mask)
            begin[:, 1] = True
            part.update(image_token_mask=image_mask, image_begin_mask=begin,
                        pixel_values=torch.rand(n, 3, image, image, generator=g) * 2 - 1)
        return part

    out = {"tasks": ["und"] * n_und + ["gen"] * n_gen + ["text"] * n_text,
           "gen": {"prefix_ids": torch.randint(10, vocab, (n_gen, PROMPT_TOKENS), generator=g),
                   "prefix_attention": torch.ones(n_gen, PROMPT_TOKENS, dtype=torch.long),
                   "pixel_values": torch.rand(n_gen, 3, image, image, generator=g) * 2 - 1}}
    if n_und:
        out["und"] = sequences(n_und, True)
    if n_text:
        out["text"] = sequences(n_text, False)
    return {k: ({kk: vv.to(device) for kk, vv in v.items()} if isinstance(v, dict) else v) for k, v in out.items()}


def one_process_group(device: str) -> None:
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo", init_method="tcp://127.0.0.1:29561",
                                rank=0, world_size=1)


def shard_with_fsdp2(model: JanusFlowModel, device: str) -> JanusFlowModel:
    """``parallelism: fsdp2`` (what Composer builds from its FSDP2Config) in this process: one ``fully_shard`` unit
    per decoder layer and the root, bf16 compute, fp32 gradient reduction."""
    one_process_group(device)
    policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for layer in model.language_model.model.layers:
        fully_shard(layer, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    return model


def shard_like_training(model: JanusFlowModel, device: str) -> FullyShardedDataParallel:
    """The paper profile's FSDP (what Composer builds from ``training.parallelism_config()``) in this process."""
    one_process_group(device)
    dtypes = {key: getattr(torch, value) for key, value in fsdp_mixed_precision("amp_bf16").items()}
    return FullyShardedDataParallel(model, auto_wrap_policy=ModuleWrapPolicy({LlamaDecoderLayer}),
                                    mixed_precision=MixedPrecision(**dtypes), use_orig_params=True,
                                    sharding_strategy=ShardingStrategy.FULL_SHARD,
                                    device_id=torch.device(device, torch.cuda.current_device()) if device == "cuda"
                                    else torch.device(device))


@dataclass(frozen=True)
class StepOptions:
    compile_layers: bool = False
    profile: bool = False
    fsdp: bool = False
    fsdp2: bool = False
    channels_last: bool = False
    fused_ce: int = 0
    precomputed_latents: bool = False


def measure(config_name: str, device: str, batch_size: int, steps: int, peak: float,
            options: StepOptions = StepOptions()) -> dict:
    if config_name == "official":
        config, vae, image = official_janusflow_1_3b_config(), sdxl_vae_layout(), 384
    else:
        config, vae, image = tiny_janusflow_config(vocab_size=512), tiny_vae(), 64
    torch.manual_seed(0)
    with torch.device(device):
        model = JanusFlowModel(config)
    model.vision_und_enc_model.requires_grad_(False)  # stage 2: everything but SigLIP trains
    if options.channels_last:
        model.to_channels_last()
    if options.compile_layers:
        model.compile_decoder_layers()
    codec = LatentCodec(vae.to(device=device, dtype=torch.bfloat16 if device == "cuda" else torch.float32))
    objective = Objective(model, codec, pad_id=0, ce_chunk=options.fused_ce, zero_unused_gradients=options.fsdp2)
    wrapped = (shard_like_training(model, device) if options.fsdp else
               shard_with_fsdp2(model, device) if options.fsdp2 else model)
    params = [p for p in wrapped.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0, fused=device == "cuda")
    batch = synthetic_batch(batch_size, image, config.und_encoder_spec().num_tokens, config.llama_config().vocab_size,
                            device)
    if options.precomputed_latents:
        with torch.no_grad():
            batch["gen"]["latent_moments"] = codec.moments(batch["gen"]["pixel_values"]).float()
    fsdp = options.fsdp
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16,
                              enabled=device == "cuda" or fsdp or options.fsdp2)

    def step(index: int) -> float:
        with autocast:
            loss = wrapped(objective, batch, step_generator(0, 0, index))["total"]
        loss.backward()
        if fsdp:
            wrapped.clip_grad_norm_(1.0)
        else:
            torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    for index in range(3):
        step(index)
    if options.profile:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            step(3)
            torch.cuda.synchronize()
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=60))
    with FlopCounterMode(display=False) as counter:
        step(3)
    flops = counter.get_total_flops()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for index in range(steps):
        step(4 + index)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / steps
    tokens = sum(len(part["input_ids"]) * CHAT_TOKENS for key, part in batch.items() if key in ("und", "text"))
    tokens += len(batch["gen"]["prefix_ids"]) * (PROMPT_TOKENS + 1 + config.und_encoder_spec().num_tokens)
    return {"config": config_name, "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
            "batch_size": batch_size, "tokens_per_step": tokens, "step_seconds": round(seconds, 4),
            "tokens_per_second": round(tokens / seconds), "tflops_per_step": round(flops / 1e12, 2),
            "achieved_tflops": round(flops / seconds / 1e12, 1), "mfu": round(flops / seconds / (peak * 1e12), 3),
            "trainable_parameters": sum(p.numel() for p in params), "compiled_decoder_layers": options.compile_layers,
            "channels_last": options.channels_last, "fused_cross_entropy": options.fused_ce,
            "precomputed_latents": options.precomputed_latents,
            "parallelism": "fsdp" if fsdp else "fsdp2" if options.fsdp2 else None,
            "precision": "bf16 parameters, fp32 master weights" if fsdp or options.fsdp2 else (
                "autocast bf16 over fp32 weights" if device == "cuda" else "fp32"),
            "attention": model.language_model.config._attn_implementation,
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1) if device == "cuda" else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--config", choices=["official", "tiny"], default="official")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--peak-tflops", type=float, default=989.4)
    parser.add_argument("--compile", action="store_true", help="torch.compile each LLM decoder layer")
    parser.add_argument("--profile", action="store_true", help="print the CUDA kernels of one step")
    parser.add_argument("--fsdp", action="store_true", help="FSDP with bf16 parameters, as the paper profile trains")
    parser.add_argument("--fsdp2", action="store_true", help="FSDP2 (fully_shard) per decoder layer, bf16 parameters")
    parser.add_argument("--channels-last", action="store_true", help="training.speed.channels_last")
    parser.add_argument("--fused-ce", type=int, default=0, help="training.speed.fused_cross_entropy (rows)")
    parser.add_argument("--precomputed-latents", action="store_true", help="training.speed.precomputed_latents")
    parser.add_argument("--out", default="benchmarks/results/training_full_size.json")
    args = parser.parse_args()
    rows = []
    for batch_size in args.batch_sizes:
        options = StepOptions(args.compile, args.profile, args.fsdp, args.fsdp2, args.channels_last, args.fused_ce,
                              args.precomputed_latents)
        rows.append(measure(args.config, args.device, batch_size, args.steps, args.peak_tflops, options))
        print(json.dumps(rows[-1]), flush=True)
        if args.device == "cuda":
            torch.cuda.empty_cache()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
