"""Draws images for prompts with a JanusFlow checkpoint: one of this pipeline's exports or the official
JanusFlow-1.3B, with its VAE.

    janusflow-generate --checkpoint artifacts/tiny/training/F/seed0/stage3/export --prompt "a photo of a red circle"
    janusflow-generate --checkpoint models/JanusFlow-1.3B --vae models/sdxl-vae --profile paper \\
        --prompts-file prompts.txt --images-per-prompt 4 --out samples/

Sampling follows params.yaml ``sampling`` (30 Euler steps at CFG weight 2, the SFT template) unless --steps or
--cfg-weight say otherwise; without --vae the profile's VAE is used (tiny: its VAE foundation). Writes one PNG per
image, ``<prompt index>_<k>.png``, a grid of them, and ``prompts.json``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from janusflow.foundations.codec import profile_codec
from janusflow.foundations.pretrained import FoundationMissingError
from janusflow.pipeline import JanusFlowPipeline
from janusflow.vae import LatentCodec, load_vae
from settings.cli import command_parser, parse_with_profile, sampling_options, sampling_overrides
from settings.params import Profile, load_params
from settings.typed import SettingsError


def read_prompts(prompts: list[str], prompts_file: str | None) -> list[str]:
    """The prompts given one by one, then those of the file (one per line, blank lines skipped)."""
    found = list(prompts)
    if prompts_file:
        found += [line.strip() for line in Path(prompts_file).read_text().splitlines() if line.strip()]
    if not found:
        raise ValueError("no prompts; give --prompt TEXT (repeatable) or --prompts-file FILE.")
    return found


def codec_for(vae: str | None, profile: Profile) -> LatentCodec:
    """``--vae`` when given, else the profile's VAE."""
    return load_vae(vae) if vae else profile_codec(profile)


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(__doc__, sampling_options())
    parser.add_argument("--checkpoint", required=True,
                        help="a checkpoint directory (config.json, weights, tokenizer), or the id of a hub repository "
                             "in the local cache")
    parser.add_argument("--prompt", action="append", default=[], help="a prompt (repeat for several)")
    parser.add_argument("--prompts-file", default=None, help="a text file of prompts, one per line")
    parser.add_argument("--images-per-prompt", type=int, default=1, help="images drawn for each prompt")
    parser.add_argument("--seed", type=int, default=0, help="the first image's noise seed; the others follow it")
    parser.add_argument("--vae", default=None,
                        help="a diffusers VAE directory or cached hub id (default: the profile's VAE)")
    parser.add_argument("--batch-size", type=int, default=None, help="images per forward pass (default: all)")
    parser.add_argument("--device", default="cpu", help="a torch device, e.g. cpu or cuda")
    parser.add_argument("--out", type=Path, default=Path("samples"), help="folder for the images")
    args = parse_with_profile(parser, argv)
    try:
        params = load_params(args.params)
        sampling = params.sampling.with_overrides(sampling_overrides(args), "the command line")
        prompts = read_prompts(args.prompt, args.prompts_file)
        pipeline = JanusFlowPipeline.from_pretrained(args.checkpoint, codec_for(args.vae, params.select(args.profile)),
                                                     device=args.device)
    except (SettingsError, FileNotFoundError, FoundationMissingError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    repeated = [prompt for prompt in prompts for _ in range(args.images_per_prompt)]
    seeds = list(range(args.seed, args.seed + len(repeated)))
    samples = pipeline.generate(repeated, seeds, sampling, batch_size=args.batch_size, progress=True)
    args.out.mkdir(parents=True, exist_ok=True)
    names = [f"{i // args.images_per_prompt:04d}_{i % args.images_per_prompt}.png" for i in range(len(repeated))]
    for name, image in zip(names, samples.to_pil()):
        image.save(args.out / name)
    samples.grid(columns=args.images_per_prompt).save(args.out / "grid.png")
    (args.out / "prompts.json").write_text(json.dumps(
        {"checkpoint": str(args.checkpoint), "sampling": asdict(sampling), "images": dict(zip(names, repeated)),
         "seeds": dict(zip(names, seeds))}, indent=1) + "\n")
    print(f"{len(names)} images ({sampling.steps} steps, CFG {sampling.cfg_weight:g}) in {args.out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
