"""The generation benchmarks' prompt files and folder layouts: the shipped files parse, and what we write is
what the official evaluators read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from evals.generation.layouts import dpg_grid, dpg_prompts, geneval_prompts, geneval_sample_paths

REFERENCE = Path(__file__).resolve().parents[1] / "evals" / "reference"


def test_the_reference_prompt_files_parse():
    geneval = geneval_prompts(REFERENCE / "geneval_evaluation_metadata.jsonl")
    assert len(geneval) == 553
    assert {row["tag"] for row in geneval} == {"single_object", "two_object", "counting", "colors", "position",
                                               "color_attr"}
    assert len(dpg_prompts(REFERENCE / "dpg_bench_prompts.jsonl")) == 1065


def test_bad_prompt_files_name_the_line(tmp_path):
    bad = tmp_path / "prompts.jsonl"
    bad.write_text('{"item_id": "0", "prompt": "a cat"}\n{"prompt": "a dog"}\n')
    with pytest.raises(ValueError, match=r"prompts.jsonl:2 lacks \['item_id'\]"):
        dpg_prompts(bad)
    bad.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"prompts.jsonl:1 is not valid JSON"):
        dpg_prompts(bad)
    with pytest.raises(FileNotFoundError, match="no prompt file at"):
        dpg_prompts(tmp_path / "missing.jsonl")


def test_geneval_folder_layout(tmp_path):
    metadata = {"tag": "counting", "include": [{"class": "square", "count": 2}], "prompt": "a photo of two squares"}
    paths = geneval_sample_paths(tmp_path, 7, metadata)
    assert [str(p.relative_to(tmp_path)) for p in paths] == [f"00007/samples/0000{k}.png" for k in range(4)]
    assert json.loads((tmp_path / "00007" / "metadata.jsonl").read_text()) == metadata


def test_dpg_grid_places_the_four_images_row_by_row():
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    grid = dpg_grid([Image.new("RGB", (8, 8), c) for c in colours])
    assert grid.size == (16, 16)
    assert [grid.getpixel(xy) for xy in ((0, 0), (8, 0), (0, 8), (8, 8))] == colours
    with pytest.raises(ValueError, match="needs 4 images of one size"):
        dpg_grid([Image.new("RGB", (8, 8))] * 3)
