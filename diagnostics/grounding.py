"""Does an understanding model use its image, and how? The measurements behind docs/understanding.md's diagnosis of
the tiny profile, on the shapes world's held-out scenes:

- answers with each question's own image against the images shuffled across questions, per VQA category;
- linear probes: each object's shape and colour from the patch features at its centre, in the understanding
  encoder's output and in the aligned embeddings the LLM receives;
- attention at the answer position: its share on the image slots (per layer and head), and per image slot on
  the asked object's patches against the other objects' (colour questions in scenes of several objects);
- slot reading: teacher-forced answers per category with the own image, with shuffled images, and with the
  aligner's output replaced at object slots, at empty slots or at every slot by what the LLM foundation read
  there (the scene in patch words), which says whether the answers are lost in the image path or in the LLM.

    python -m diagnostics.grounding --checkpoint artifacts/tiny/training/F/stage3/export
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from PIL import Image

from data.shapes.patch_words import patch_labels
from data.shapes.scene import COLORS, SHAPES, Scene
from evals.heldout import read_eval
from evals.understanding.questions import Question, prompt_text
from evals.understanding.runner import evaluate
from evals.understanding.shuffled import shuffled_images
from janusflow.foundations.reading import SlotWords, answer_accuracy, patch_word_vectors
from janusflow.modeling.janusflow import JanusFlowModel
from janusflow.pipeline import JanusFlowPipeline
from janusflow.processor import JanusFlowProcessor, SequenceBatch, preprocess_image
from janusflow.vae import LatentCodec
from settings.cli import command_parser, parse_with_profile
from settings.layout import SCENES, HeldoutLayout
from settings.params import load_params


def scene_id(question: Question) -> str:
    """The held-out scene a shapes-world question is about (``eval-000012-color`` -> ``eval-000012``)."""
    return question.id.rsplit("-", 1)[0]


def object_cells(box: Sequence[float], grid: int) -> list[int]:
    """The patch indices (row-major on a ``grid`` x ``grid`` patch grid) that an object's box touches."""
    x0, y0, x1, y1 = box
    rows = range(int(y0 * grid), min(grid, int(y1 * grid) + 1))
    cols = range(int(x0 * grid), min(grid, int(x1 * grid) + 1))
    return [r * grid + c for r in rows for c in cols]


def centre_features(features: torch.Tensor, box: Sequence[float]) -> torch.Tensor:
    """Mean of the 3x3 patch features around an object's centre; ``features`` [grid*grid, D]."""
    grid = int(round(features.shape[0] ** 0.5))
    cx = min(int((box[0] + box[2]) / 2 * grid), grid - 1)
    cy = min(int((box[1] + box[3]) / 2 * grid), grid - 1)
    patches = features.reshape(grid, grid, -1)[max(0, cy - 1):cy + 2, max(0, cx - 1):cx + 2]
    return patches.mean((0, 1))


def probe_accuracy(features: torch.Tensor, labels: torch.Tensor, classes: int, train_share: float = 0.7,
                   steps: int = 500, seed: int = 0) -> float:
    """Held-out accuracy of a linear classifier (Adam, standardised inputs) trained on the first ``train_share``."""
    torch.manual_seed(seed)
    x = (features - features.mean(0)) / (features.std(0) + 1e-6)
    split = int(train_share * len(x))
    linear = torch.nn.Linear(x.shape[1], classes)
    optimizer = torch.optim.Adam(linear.parameters(), lr=1e-2)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(linear(x[:split]), labels[:split]).backward()
        optimizer.step()
    with torch.no_grad():
        return float((linear(x[split:]).argmax(1) == labels[split:]).float().mean())


@torch.no_grad()
def object_probes(model: JanusFlowModel, image_size: int, scenes: Sequence[dict], images: Path,
                  batch_size: int = 128) -> dict[str, dict[str, float]]:
    """Shape and colour probe accuracy from the encoder's patch features and from the aligned embeddings."""
    features: dict[str, list[torch.Tensor]] = {"encoder": [], "aligned": []}
    shapes, colours = [], []
    for start in range(0, len(scenes), batch_size):
        rows = scenes[start:start + batch_size]
        pixels = torch.stack([preprocess_image(_image(images / row["image"]), image_size) for row in rows])
        encoded = model.vision_und_enc_model(pixels.to(model.device, model.dtype))
        aligned = model.vision_und_enc_aligner(encoded)
        for row, enc, ali in zip(rows, encoded, aligned):
            for obj in row["scene"]["objects"]:
                features["encoder"].append(centre_features(enc.float().cpu(), obj["box"]))
                features["aligned"].append(centre_features(ali.float().cpu(), obj["box"]))
                shapes.append(SHAPES.index(obj["shape"]))
                colours.append(list(COLORS).index(obj["color"]))
    with torch.enable_grad():
        return {name: {"shape": probe_accuracy(torch.stack(rows), torch.tensor(shapes), len(SHAPES)),
                       "colour": probe_accuracy(torch.stack(rows), torch.tensor(colours), len(COLORS)),
                       "objects": len(shapes)}
                for name, rows in features.items()}


@torch.no_grad()
def answer_attention(model: JanusFlowModel, processor: JanusFlowProcessor, questions: Sequence[Question],
                     scenes: dict[str, dict]) -> dict[str, list]:
    """At the open answer position of each prompt: per layer and head, the share of attention on the image slots,
    and for colour questions about one shape in scenes of several objects the mean attention per slot on the asked
    object's patches and on the other objects' patches."""
    config = model.language_model.config
    previous, config._attn_implementation = config._attn_implementation, "eager"  # sdpa returns no weights
    try:
        batch = processor.chat_batch([[{"role": "User", "content": prompt_text(q)}] for q in questions],
                                     [[q.load_image()] for q in questions])
        device = model.device
        slots_mask = batch.image_token_mask.to(device)
        embeds = model.prepare_inputs_embeds(batch.input_ids.to(device), batch.pixel_values.to(device),
                                             slots_mask, batch.image_begin_mask.to(device))
        out = model.language_model(inputs_embeds=embeds, attention_mask=batch.attention_mask.to(device),
                                   output_attentions=True)
    finally:
        config._attn_implementation = previous
    share, asked, other, compared = [], [], [], 0
    for layer in out.attentions:  # [B, heads, L, L]; prompts are left-padded, so the answer position is last
        last = layer[:, :, -1, :].float().cpu()
        share.append((last * slots_mask.cpu()[:, None, :]).sum(-1).mean(0).tolist())
        pairs = []
        for i, question in enumerate(questions):
            objects = scenes[scene_id(question)]["objects"]
            shape = question.text.removeprefix("What color is the ").removesuffix("?")
            if question.category != "color" or shape not in SHAPES or len(objects) < 2:
                continue
            slots = last[i][:, slots_mask[i].cpu()]  # [heads, grid*grid]
            grid = int(round(slots.shape[1] ** 0.5))
            mine = {c for o in objects if o["shape"] == shape for c in object_cells(o["box"], grid)}
            rest = {c for o in objects if o["shape"] != shape for c in object_cells(o["box"], grid)} - mine
            if mine and rest:
                pairs.append(torch.stack([slots[:, sorted(mine)].mean(1), slots[:, sorted(rest)].mean(1)]))
        compared = len(pairs)
        if pairs:
            mean = torch.stack(pairs).mean(0)
            asked.append(mean[0].tolist())
            other.append(mean[1].tolist())
    return {"image_share": share, "asked_object_per_slot": asked, "other_objects_per_slot": other,
            "selectivity_questions": compared}


SLOT_SWAPS = {  # row name: (object slots in words, empty slots zero)
    "objects_in_words": (True, False),
    "empty_slots_zero": (False, True),
    "scene_in_words": (True, True),
}


@contextmanager
def slots_in_words(model: JanusFlowModel, tokenizer, labels: torch.Tensor, objects: bool,
                   empty: bool) -> Iterator[None]:
    """Within the block, the und aligner's output [B, N, D] is replaced where ``labels`` ([B, N] ``PATCH_WORDS``
    indices) name an object (``objects``) and where they name the background (``empty``) by what the scene written
    in words puts there: the sum of the object's colour and shape word embeddings, zero for the background."""
    vectors = patch_word_vectors(model.language_model.get_input_embeddings(), SlotWords.of(tokenizer).objects)

    def swap(_module: torch.nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        if output.shape[:2] != labels.shape:
            raise ValueError(f"the aligner gives {tuple(output.shape[:2])} slots, the labels {tuple(labels.shape)}.")
        is_object = (labels > 0)[..., None]
        replace = (is_object & objects) | (~is_object & empty)
        return torch.where(replace, vectors[labels].to(output.dtype), output)

    handle = model.vision_und_enc_aligner.register_forward_hook(swap)
    try:
        yield
    finally:
        handle.remove()


def answered_batch(processor: JanusFlowProcessor, questions: Sequence[Question]) -> SequenceBatch:
    """The questions with their first reference answers, right-padded, labels on the answers: asked as the LLM
    foundation's reading asks (no answer suffix)."""
    sequences = [processor.encode_conversation([{"role": "User", "content": prompt_text(q)},
                                                {"role": "Assistant", "content": q.answers[0]}], truncate=True)
                 for q in questions]
    return processor.batch(sequences, [q.load_image() for q in questions], padding_side="right")


@torch.no_grad()
def teacher_forced(model: JanusFlowModel, processor: JanusFlowProcessor, questions: Sequence[Question],
                   codec: LatentCodec | None = None) -> float:
    """Percent of ``questions`` whose first reference answer is the argmax at each of its tokens."""
    batch = answered_batch(processor, questions)
    latents = codec.encode(batch.pixel_values, torch.Generator().manual_seed(0)) if model.understands_latents else None
    logits = model.understanding_logits(batch.input_ids, batch.attention_mask, batch.pixel_values,
                                        batch.image_token_mask, batch.image_begin_mask, latents)
    return round(100 * answer_accuracy(logits, batch.labels), 1)


def by_category(questions: Sequence[Question]) -> dict[str, list[Question]]:
    """The questions grouped by category, categories sorted."""
    grouped: dict[str, list[Question]] = {}
    for q in sorted(questions, key=lambda q: q.category):
        grouped.setdefault(q.category, []).append(q)
    return grouped


def slot_reading(model: JanusFlowModel, processor: JanusFlowProcessor, questions: Sequence[Question],
                 scenes: dict[str, dict], codec: LatentCodec | None = None) -> dict[str, dict[str, float]]:
    """Teacher-forced accuracy per VQA category with the own image, with each of ``SLOT_SWAPS`` and with the images
    shuffled across questions. Models whose understanding encoder reads VAE latents (B, C) get only the own and
    shuffled rows: the LLM foundation never read their slots in words."""
    asked = by_category(questions)
    rows = {"own_images": {c: teacher_forced(model, processor, qs, codec) for c, qs in asked.items()}}
    if not model.understands_latents:
        grid = model.config.und_encoder_spec().grid
        labels = {c: torch.tensor([patch_labels(Scene.from_dict(scenes[scene_id(q)]), grid) for q in qs])
                  for c, qs in asked.items()}
        for name, (objects, empty) in SLOT_SWAPS.items():
            rows[name] = {}
            for category, qs in asked.items():
                with slots_in_words(model, processor.tokenizer, labels[category], objects, empty):
                    rows[name][category] = teacher_forced(model, processor, qs, codec)
    rows["shuffled_images"] = {c: teacher_forced(model, processor, qs, codec)
                               for c, qs in by_category(shuffled_images(questions)).items()}
    return rows


def _image(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def grounding_report(pipeline: JanusFlowPipeline, questions: Sequence[Question], eval_dir: Path, out: Path,
                     image_size: int, attention_questions: int = 64) -> dict:
    """All four measurements (answers, probes, attention, slot reading); the shuffled and own-image answers are
    kept under ``out`` as ``ask`` writes them."""
    answers = {}
    for name, asked in (("own_images", list(questions)), ("shuffled_images", shuffled_images(questions))):
        (out / name).mkdir(parents=True, exist_ok=True)
        answers[name] = evaluate(pipeline, "vqa", asked, out / name, progress=False)["categories"]
    scene_rows = read_eval(eval_dir, SCENES)
    scenes = {row["id"]: row["scene"] for row in scene_rows}
    several = [q for q in questions if q.category == "color" and len(scenes[scene_id(q)]["objects"]) > 1]
    model, processor = pipeline.model, pipeline.processor
    report = {
        "vqa": answers,
        "probes": object_probes(model, image_size, scene_rows, HeldoutLayout(eval_dir).images),
        "attention": answer_attention(model, processor, (several or list(questions))[:attention_questions], scenes),
        "slot_reading": slot_reading(model, processor, questions, scenes, pipeline.codec),
    }
    (out / "grounding.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    from evals.run import EvalRun
    from janusflow.foundations.codec import profile_codec

    parser = command_parser(__doc__)
    parser.add_argument("--checkpoint", required=True, help="an exported checkpoint with an understanding encoder")
    parser.add_argument("--out", default=None, help="where the report goes (default: <checkpoint>/../grounding)")
    args = parse_with_profile(parser, argv)
    run = EvalRun.from_params(load_params(args.params), args.profile)
    loaded = JanusFlowPipeline.from_pretrained(args.checkpoint, profile_codec(run.profile), run.settings.device)
    out = Path(args.out) if args.out else Path(args.checkpoint).parent / "grounding"
    out.mkdir(parents=True, exist_ok=True)
    report = grounding_report(loaded, run.questions("vqa"), run.eval_dir, out, loaded.processor.image_size)
    print(json.dumps({key: report[key] for key in ("vqa", "probes", "slot_reading")}, indent=1))
    print(f"attention and answers: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
