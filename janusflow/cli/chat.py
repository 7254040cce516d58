"""Asks a JanusFlow checkpoint a question about an image (or several questions, one turn each).

    janusflow-chat --checkpoint artifacts/tiny/training/F/seed0/stage3/export --image scene.png \\
        --question "What colour is the circle?"
    janusflow-chat --checkpoint models/JanusFlow-1.3B --profile paper --image photo.jpg --question "Describe it."

The answer is greedy. A checkpoint whose understanding encoder reads VAE latents (variants B and C) needs the
VAE: --vae, else the profile's.
"""

from __future__ import annotations

import sys

from PIL import Image

from janusflow.cli.generate import codec_for
from janusflow.pipeline import JanusFlowPipeline
from settings.cli import command_parser, parse_with_profile
from settings.params import load_params
from settings.typed import SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(__doc__)
    parser.add_argument("--checkpoint", required=True,
                        help="a checkpoint directory (config.json, weights, tokenizer), or the id of a hub repository "
                             "in the local cache")
    parser.add_argument("--image", required=True, help="the image the questions are about")
    parser.add_argument("--question", action="append", required=True, help="a question (repeat for several)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="the longest answer, in tokens")
    parser.add_argument("--vae", default=None,
                        help="a diffusers VAE directory, for variants B and C (default: the profile's VAE)")
    parser.add_argument("--device", default="cpu", help="a torch device, e.g. cpu or cuda")
    args = parse_with_profile(parser, argv)
    try:
        image = Image.open(args.image).convert("RGB")
        pipeline = JanusFlowPipeline.from_pretrained(args.checkpoint, device=args.device)
        if pipeline.model.understands_latents or args.vae:
            pipeline.codec = codec_for(args.vae, load_params(args.params).select(args.profile)).to(args.device)
    except (SettingsError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    conversations = [[{"role": "User", "content": f"<image_placeholder>\n{question}"}] for question in args.question]
    replies = pipeline.answer(conversations, [[image]] * len(conversations), max_new_tokens=args.max_new_tokens)
    for question, reply in zip(args.question, replies):
        print(f"User: {question}\nAssistant: {reply.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
