"""The ceiling, through-VAE ceiling and floor that every generation score is read between: ground-truth renders
score the top, a lossless codec changes nothing, a lossy one lowers the ceiling, and renders judged against other
prompts fall to the floor."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data.shapes.detector import detect
from data.shapes.scene import sample_scene
from evals.generation import dpg
from evals.generation.bounds import KINDS, generation_bounds, ground_truth, prompt_derangement
from evals.generation.fid import Extractor, folder_features
from evals.generation.prompt_sets import PromptSets
from evals.generation.runner import Scorers
from evals.generation.shapes_geneval import shapes_geneval
from janusflow.vae import LatentCodec


class Codec(LatentCodec):
    """A stand-in VAE: the latents are the pixels; ``blur`` > 1 averages them over a ``blur`` x ``blur`` window."""

    def __init__(self, blur: int = 1) -> None:
        self.blur = blur

    def encode(self, pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return pixels

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        if self.blur == 1:
            return latents
        return torch.nn.functional.avg_pool2d(latents, self.blur, stride=1, padding=self.blur // 2,
                                              count_include_pad=False)


def colour_agreement(paths: Sequence[Path], prompts: Sequence[str]) -> dict[str, float]:
    """A stand-in alignment score: 100 x the share of images whose first detected colour the prompt names."""
    hits = []
    for path, prompt in zip(paths, prompts):
        with Image.open(path) as image:
            found = detect(image)
        hits.append(bool(found) and f"{found[0].color} " in prompt)
    score = 100 * sum(hits) / len(hits)
    return {"clip_score": score, "clip_cosine": score}


def prompt_sets(tmp_path: Path) -> tuple[PromptSets, list[dict]]:
    rng = np.random.default_rng(0)
    scenes = [sample_scene(rng) for _ in range(40)]
    multi = [(str(i), s) for i, s in enumerate(scenes) if len(s.objects) >= 2][:6]
    dpg.write_items(multi, tmp_path / "dpg.jsonl", tmp_path / "dpg.csv")
    items = [{"item_id": i, "prompt": dpg.compose(s, i)[0], "scene": s.to_dict()} for i, s in multi]
    fid_scenes = [s.to_dict() for s in scenes[:12]]
    fid = [{"id": str(i), "prompt": " and ".join(f"a {o.color} {o.shape}" for o in s.objects) + " "}
           for i, s in enumerate(scenes[:12])]
    sets = PromptSets(geneval=shapes_geneval(per_tag=3, seed=0), dpg=items,
                      dpg_questions=dpg.read_questions(tmp_path / "dpg.csv"), fid=fid)
    return sets, fid_scenes


def test_prompt_derangement_moves_every_prompt_and_is_seeded():
    order = prompt_derangement(9, seed=1)
    assert sorted(order) == list(range(9)) and all(j != i for i, j in enumerate(order))
    assert order == prompt_derangement(9, seed=1) and order != prompt_derangement(9, seed=2)
    with pytest.raises(ValueError, match="at least two"):
        prompt_derangement(1)


def test_bounds_read_the_ceiling_through_the_vae_and_the_floor(tmp_path):
    sets, fid_scenes = prompt_sets(tmp_path)
    extractor = Extractor("mean_colour", lambda x: x.mean(dim=(2, 3)), lambda image: image.astype(np.float32), 3,
                          False)
    (tmp_path / "reference").mkdir()
    for index, image in enumerate(ground_truth(fid_scenes, 64)):
        image.save(tmp_path / "reference" / f"{index}.png")
    reference = folder_features(tmp_path / "reference", extractor, progress=False)
    scorers = Scorers(extractor, reference, colour_agreement, True)
    found = generation_bounds(sets, fid_scenes, scorers, Codec(), tmp_path / "lossless", 64)
    assert list(found) == list(KINDS)
    ceiling, floor = found["ceiling"], found["floor"]
    assert ceiling["geneval"] == {tag: 100.0 for tag in ("color_attr", "colors", "counting", "position",
                                                          "single_object", "two_object", "overall")}
    assert ceiling["dpg"]["dpg_score"] >= 99.0 and ceiling["clip_score"] == 100.0
    assert ceiling["fid"] == pytest.approx(0.0, abs=1e-6)
    assert found["through_vae"] == ceiling  # a lossless codec is no ceiling at all
    assert floor["geneval"]["overall"] < 50 and floor["geneval"]["colors"] < 100
    assert floor["dpg"]["dpg_score"] < 50 and floor["clip_score"] < 50
    assert "fid" not in floor  # FID does not read prompts: shuffling them changes nothing
    assert found == generation_bounds(sets, fid_scenes, scorers, Codec(), tmp_path / "again", 64)

    blurred = generation_bounds(sets, fid_scenes, scorers, Codec(blur=7), tmp_path / "blurred", 64)["through_vae"]
    assert blurred["geneval"]["overall"] < 100 and blurred["dpg"]["dpg_score"] < ceiling["dpg"]["dpg_score"]
    assert blurred["fid"] > 0
    written = sorted((tmp_path / "blurred" / "through_vae" / "fid" / "flat").glob("*.png"))
    assert [p.name for p in written] == [f"{i:05d}_00.png" for i in range(12)]


def test_bounds_need_prompts_that_carry_their_scenes(tmp_path):
    sets, fid_scenes = prompt_sets(tmp_path)
    bare = PromptSets(geneval=[{k: v for k, v in row.items() if k != "scene"} for row in sets.geneval],
                      dpg=sets.dpg, dpg_questions=sets.dpg_questions, fid=sets.fid)
    scorers = Scorers(Extractor("x", lambda x: x, lambda i: i, 3, False), np.zeros((1, 3)), colour_agreement, True)
    with pytest.raises(ValueError, match="prompts carry scene graphs.*python -m evals.cli prompts"):
        generation_bounds(bare, fid_scenes, scorers, Codec(), tmp_path, 64)
