"""What a generation score can be at best and at worst, on the same prompts and with the same judge (tiny
profile), so that every checkpoint's number is read between the two:

- ``ceiling``: the ground-truth render of each prompt's scene graph, one image per prompt;
- ``through_vae``: the same renders encoded and decoded by the checkpoint's VAE: the best that a generator working
  in that VAE's latents can be judged to draw;
- ``floor``: the ground-truth renders, each scored against another prompt of its set (a seeded derangement): what
  an image that ignores its prompt gets.

GenEval and DPG are judged by the detector. The alignment score pairs the FID prompts' renders with their own or
with another prompt's caption. FID compares the renders with the reference; it does not read the prompts, so it has
no floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from data.shapes.detector import detect
from data.shapes.render import render
from data.shapes.scene import Scene
from data.streaming import image_tensor
from evals.generation import dpg
from evals.generation.fid import fid_kid, folder_features
from evals.generation.geneval import judge, summarize
from evals.generation.prompt_sets import PromptSets
from evals.generation.runner import Scorers
from evals.understanding.shuffled import image_derangement
from janusflow.sampling import to_uint8
from janusflow.vae import LatentCodec

KINDS = ("ceiling", "through_vae", "floor")


def prompt_derangement(count: int, seed: int = 0) -> list[int]:
    """For each prompt index, the index of another prompt whose image it is scored against (no fixed point)."""
    moved = image_derangement([str(i) for i in range(count)], seed)
    return [int(moved[str(i)]) for i in range(count)]


def ground_truth(scenes: Sequence[dict], resolution: int) -> list[Image.Image]:
    return [render(Scene.from_dict(scene), resolution) for scene in scenes]


def round_trip(images: Sequence[Image.Image], codec: LatentCodec, seed: int = 0) -> list[Image.Image]:
    """``images`` encoded (one seeded posterior sample each, as in training) and decoded by ``codec``."""
    pixels = torch.stack([image_tensor(image) for image in images])
    with torch.no_grad():
        decoded = codec.decode(codec.encode(pixels, torch.Generator().manual_seed(seed)))
    return [Image.fromarray(image.numpy()) for image in to_uint8(decoded)]


def geneval_scores(images: Sequence[Image.Image], rows: Sequence[dict], order: Sequence[int]) -> dict[str, float]:
    """GenEval's task and overall scores (x100) when prompt ``i`` is judged on ``images[order[i]]``."""
    scores = summarize((row["tag"], judge(detect(images[j]), row).correct) for row, j in zip(rows, order))
    return {key: round(100 * value, 2) for key, value in scores.items()}


def dpg_scores(images: Sequence[Image.Image], items: Sequence[dict], questions: dict[str, list[dpg.Proposition]],
               order: Sequence[int]) -> dict[str, float]:
    """DPG's score when item ``i``'s propositions are checked on ``images[order[i]]``."""
    return dpg.summarize((item["item_id"], questions[item["item_id"]],
                          dpg.score_image(questions[item["item_id"]], Scene.from_dict(item["scene"]).objects,
                                          detect(images[j])))
                         for item, j in zip(items, order))


def write_flat(images: Sequence[Image.Image], folder: Path) -> list[Path]:
    """``images`` as ``<folder>/flat/<index>_00.png`` (the harness's flat layout); earlier files are replaced."""
    (folder / "flat").mkdir(parents=True, exist_ok=True)
    for stale in (folder / "flat").glob("*.png"):
        stale.unlink()
    paths = [folder / "flat" / f"{index:05d}_00.png" for index in range(len(images))]
    for image, path in zip(images, paths):
        image.save(path)
    return paths


def generation_bounds(sets: PromptSets, fid_scenes: Sequence[dict], scorers: Scorers, codec: LatentCodec, root: Path,
                      resolution: int, seed: int = 0) -> dict[str, dict]:
    """Ceiling, through-VAE ceiling and floor of GenEval, DPG, the alignment score and FID (``KINDS``); the FID
    prompts' images are written under ``root/<kind>/fid/flat/`` (the floor reuses the ceiling's)."""
    if sets.dpg_questions is None or any("scene" not in row for row in [*sets.geneval, *sets.dpg]):
        raise ValueError("generation bounds need the shapes world's prompt sets, whose prompts carry scene graphs; "
                         "rebuild them with python -m evals.cli prompts.")
    renders = {"geneval": ground_truth([row["scene"] for row in sets.geneval], resolution),
               "dpg": ground_truth([item["scene"] for item in sets.dpg], resolution),
               "fid": ground_truth(fid_scenes, resolution)}
    images = {"ceiling": renders, "floor": renders,
              "through_vae": {name: round_trip(found, codec, seed) for name, found in renders.items()}}
    flat = {kind: write_flat(images[kind]["fid"], root / kind / "fid") for kind in ("ceiling", "through_vae")}
    flat["floor"] = flat["ceiling"]
    captions = [row["prompt"] for row in sets.fid]
    result: dict[str, dict] = {}
    for kind in KINDS:
        drawn = images[kind]
        order = {name: prompt_derangement(len(found), seed) if kind == "floor" else list(range(len(found)))
                 for name, found in drawn.items()}
        result[kind] = {"geneval": geneval_scores(drawn["geneval"], sets.geneval, order["geneval"]),
                        "dpg": dpg_scores(drawn["dpg"], sets.dpg, sets.dpg_questions, order["dpg"]),
                        **scorers.alignment([flat[kind][j] for j in order["fid"]], captions)}
        if kind != "floor":
            features = folder_features(root / kind / "fid" / "flat", scorers.extractor, scorers.device, progress=False)
            found = fid_kid(features, scorers.reference, scorers.extractor)
            result[kind].update({"fid": found["fid"], "kid": found["kid"]})
    return result
