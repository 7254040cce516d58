"""Can the tiny LLM learn, from text alone, to answer questions about a scene written in words? A scene-reading
experiment behind docs/understanding.md: a fresh LLM of the foundation's size pretrains on the text corpus and, every
step beside it, on conversations about training-split scenes whose 64 image slots hold the scene's patch words
(``data.shapes.patch_words``) instead of image features, in exactly the chat layout the model later sees with
real images (the profile's chat system prompt included). A patch's "word" is the sum of the LLM's own input
embeddings of its object's colour and shape words (and, with ``--region-words``, its region words; zero for the
background), so the grid speaks the vocabulary the questions use. The questions are the shapes world's
own (``data.shapes.conversations``, 3-6 per scene, no captioning requests), so their answers are exact; the
held-out accuracy (teacher-forced exact match, per category) uses the evaluation split's VQA questions.

If it learns quickly, stage 1 only has to map the encoder's patches onto the same vectors (the encoder's
patch-word head says which vector belongs where). docs/understanding.md gives the curves this command prints.

    python -m diagnostics.reading --foundations artifacts/tiny/foundations --steps 2000 \
        [--curriculum color:1000 color,count,position,existence] [--text-batch-size 8] \
        [--initializer-range 0.02] [--official-system-prompt] [--region-words]

The curriculum and the text batch default to the LLM foundation's (params.yaml ``foundations.llm``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from janusflow.config import tiny_config
from janusflow.foundations.corpus import load_heldout, training_texts
from janusflow.foundations.language_model import pack, step_loss
from janusflow.foundations.reading import SceneReading, SlotWords, heldout_reading, reading_accuracy, reading_batches
from janusflow.foundations.training import random_indices, train
from janusflow.processor import DEFAULT_SYSTEM_PROMPT, JanusFlowProcessor
from settings.cli import command_parser, parse_with_profile
from settings.foundations import FoundationSettings, ReadingPhase, TrainingSettings, check_curriculum
from settings.params import load_params

HELD_OUT_QUESTIONS = 800


def train_reading(model: LlamaForCausalLM, reading: SceneReading, text_rows: torch.Tensor,
                  settings: TrainingSettings, every: int = 100) -> list[dict]:
    """The LLM foundation's own loop and loss (``train``, ``step_loss``: text rows and a reading batch each step),
    with the held-out reading accuracy at step 0, every ``every`` steps and at the end."""
    curve: list[dict] = []

    def record(done: int) -> None:
        if done % every == 0 or done == settings.steps:
            curve.append({"step": done, **reading_accuracy(model, reading.heldout, reading.words)})
            print(json.dumps(curve[-1]), flush=True)

    record(0)
    train(model, step_loss(model, text_rows, reading), random_indices(len(text_rows), settings.batch_size),
          settings, "scene reading", progress=False, after_step=record)
    return curve


def parse_curriculum(phases: list[str]) -> tuple[ReadingPhase, ...]:
    """``["color:1000", "color,count,position,existence"]`` -> reading phases (the last without steps)."""
    parsed = []
    for phase in phases:
        names, _, steps = phase.partition(":")
        try:
            parsed.append(ReadingPhase(tuple(c for c in names.split(",") if c), int(steps) if steps else None))
        except ValueError as error:
            raise SystemExit(f"--curriculum {phase!r}: {error}; write CATEGORIES[:STEPS].") from error
    try:
        check_curriculum(parsed)
    except ValueError as error:
        raise SystemExit(f"--curriculum {' '.join(phases)}: {error}") from error
    return tuple(parsed)


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(__doc__)
    parser.add_argument("--foundations", default="artifacts/tiny/foundations", help="folder with tokenizer/")
    parser.add_argument("--steps", type=int, default=600, help="LLM training steps")
    parser.add_argument("--batch-size", type=int, default=32, help="scene-reading conversations per step")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="default: params' foundations.llm.training.learning_rate")
    parser.add_argument("--initializer-range", type=float, default=None,
                        help="the LLM's init std (default: params' foundations.llm.initializer_range)")
    parser.add_argument("--official-system-prompt", action="store_true",
                        help="chat with the official system prompt instead of the profile's model.chat_system_prompt")
    parser.add_argument("--region-words", action="store_true",
                        help="also write each object's region words into its patch (the pipeline does not)")
    parser.add_argument("--curriculum", nargs="+", default=None, metavar="CATEGORIES[:STEPS]",
                        help="reading phases, each comma-separated categories and, but for the last, its steps "
                             "(held-out: the last phase's categories); default: params' foundations.llm.reading")
    parser.add_argument("--text-batch-size", type=int, default=None,
                        help="text rows per step (default: params' foundations.llm.training.batch_size)")
    parser.add_argument("--out", default=None, help="a JSON file for the settings and the accuracy curve")
    args = parse_with_profile(parser, argv)
    profile = load_params(args.params).select(args.profile)
    data, settings = profile.data, profile.foundations
    if data.shapes_world is None or not isinstance(settings, FoundationSettings):
        raise SystemExit("scene reading needs a tiny-model profile with a data.shapes_world section.")
    tokenizer = AutoTokenizer.from_pretrained(Path(args.foundations) / "tokenizer")
    config = tiny_config(profile.model, len(tokenizer))
    processor = JanusFlowProcessor.for_model(
        tokenizer, config, **({"system_prompt": DEFAULT_SYSTEM_PROMPT} if args.official_system_prompt else {}))
    heldout = load_heldout(data.paths.raw)
    curriculum = settings.llm.reading.curriculum if args.curriculum is None else parse_curriculum(args.curriculum)
    words = SlotWords.of(tokenizer, args.region_words)
    asked = [q for q in heldout.questions if q["category"] in curriculum[-1].categories][:HELD_OUT_QUESTIONS]
    held = heldout_reading(dict(zip(heldout.scene_ids, heldout.scenes)), asked, processor)
    text_rows = pack(training_texts(data.shard_source(), data.paths.cache), tokenizer, settings.llm.sequence_length)
    llama = config.llama_config()
    llama.initializer_range = args.initializer_range or settings.llm.initializer_range
    training = settings.llm.training
    torch.manual_seed(training.seed)
    training = replace(training, steps=args.steps, learning_rate=args.learning_rate or training.learning_rate,
                       batch_size=args.text_batch_size or training.batch_size)
    reading = SceneReading(reading_batches(data.shapes_world, processor, args.batch_size, curriculum), held, words)
    curve = train_reading(LlamaForCausalLM(llama), reading, text_rows, training)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({**vars(args), "initializer_range": llama.initializer_range,
                                              "curve": curve}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
