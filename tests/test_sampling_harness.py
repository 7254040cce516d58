"""The sampling harness: both folder layouts, resuming without redoing or changing finished images, and refusing
to mix settings in one folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from data.publish import RunFolderMismatch
from evals.generation.harness import SampleSettings, sample_prompt_set
from janusflow.sampling import FlowSampler

ROWS = [{"tag": "single_object", "include": [{"class": "circle", "count": 1}], "prompt": "a photo of a red circle"},
        {"tag": "colors", "include": [{"class": "square", "count": 1, "color": "blue"}],
         "prompt": "a photo of a blue square"}]
SETTINGS = SampleSettings(steps=2, cfg_weight=2.0, seed=5, images_per_prompt=2, batch_size=3, template="sft")


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.int16)


@pytest.fixture()
def sampler(model, processor, codec) -> FlowSampler:
    return FlowSampler(model, processor, codec)


def test_layouts_resume_and_batch_independence(sampler, tmp_path):
    first = sample_prompt_set(sampler, ROWS, tmp_path, SETTINGS, "ckpt", progress=False)
    assert (first["sampled"], first["skipped"]) == (4, 0)
    assert json.loads((tmp_path / "geneval" / "00001" / "metadata.jsonl").read_text()) == ROWS[1]
    geneval = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "geneval").rglob("*.png"))
    assert geneval == ["geneval/00000/samples/00000.png", "geneval/00000/samples/00001.png",
                       "geneval/00001/samples/00000.png", "geneval/00001/samples/00001.png"]
    flat = sorted(p.name for p in (tmp_path / "flat").glob("*.png"))
    assert flat == ["00000_00.png", "00000_01.png", "00001_00.png", "00001_01.png"]
    assert (tmp_path / "flat" / "00001_00.png").read_bytes() == \
        (tmp_path / "geneval" / "00001" / "samples" / "00000.png").read_bytes()
    before = {p.name: pixels(p) for p in (tmp_path / "flat").glob("*.png")}

    again = sample_prompt_set(sampler, ROWS, tmp_path, SETTINGS, "ckpt", progress=False)
    assert (again["sampled"], again["skipped"]) == (0, 4)

    (tmp_path / "flat" / "00001_00.png").unlink()                     # lost: redrawn alone, in a batch of one
    (tmp_path / "flat" / ".00000_01.png.partial").write_bytes(b"torn")  # a killed write never counts as done
    resumed = sample_prompt_set(sampler, ROWS, tmp_path, SETTINGS, "ckpt", progress=False)
    assert resumed["sampled"] == 1
    after = {p.name: pixels(p) for p in (tmp_path / "flat").glob("*.png")}
    assert after.keys() == before.keys()
    assert max(int(np.abs(after[k] - before[k]).max()) for k in after) <= 1   # float rounding of another batch size


def test_a_folder_made_with_other_settings_is_refused(sampler, tmp_path):
    sample_prompt_set(sampler, ROWS[:1], tmp_path, SETTINGS, "ckpt", progress=False)
    bigger_batches = SampleSettings(**{**SETTINGS.__dict__, "batch_size": 8})
    assert sample_prompt_set(sampler, ROWS[:1], tmp_path, bigger_batches, "ckpt", progress=False)["sampled"] == 0
    other = SampleSettings(**{**SETTINGS.__dict__, "cfg_weight": 4.0})
    with pytest.raises(RunFolderMismatch, match=r"cfg_weight: 2.0 there, 4.0 now.*another output folder"):
        sample_prompt_set(sampler, ROWS[:1], tmp_path, other, "ckpt", progress=False)
