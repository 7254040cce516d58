"""Filtering: every broken record is quarantined with the right reason, valid images in other modes are repaired,
nothing else is lost, and the result does not depend on the number of workers."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import small_filters, small_sources
from PIL import Image

from data.filtering import check_conversation
from data.images import ImageProblem, decode_image, pixel_hash, to_rgb
from data.manifest import build_manifests, sampled_in
from data.shapes.corruptions import REPAIRED, broken_image, png_bytes
from data.shapes.world import write_shapes_world
from data.sources.base import RawRecord
from settings.data import FilterConfig
from settings.params import load_params

REPO_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
SOURCE = {"gen": "shapes_gen", "und": "shapes_und", "text": "shapes_text"}
MODES = {"grayscale": "L", "rgba": "RGBA", "cmyk": "CMYK", "16_bit": "I;16"}


def gen_metadata(raw) -> dict[int, dict]:
    """Position -> metadata of every gen sample whose JSON parses."""
    out = {}
    for path in sorted((raw / "gen").glob("*.tar")):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    try:
                        out[int(member.name.split(".")[0])] = json.loads(tar.extractfile(member).read())
                    except json.JSONDecodeError:
                        continue
    return out


def check_ledger(raw, manifests, report, written) -> None:
    """Every ledger entry ends as expected; the only other rejections are degraded renders; counts add up."""
    ledger = json.loads((raw / "corruptions.json").read_text())
    quarantine = pd.read_parquet(manifests / "quarantine.parquet")
    kept = {task: pd.read_parquet(manifests / f"{task}.parquet") for task in ("gen", "und", "text")}
    found = {(r.source, r.position): r.reason for r in quarantine.itertuples()}
    broken_positions = set()
    for entry in ledger:
        where = (SOURCE[entry["source"]], int(entry["key"]))
        broken_positions.add(where)
        if entry["expected"] == REPAIRED:
            rows = kept[entry["source"]]
            row = rows[(rows.source == where[0]) & (rows.position == where[1])]
            assert len(row) == 1, entry
            assert row.iloc[0].source_mode == MODES[entry["kind"]], entry
        else:
            assert found.get(where) == entry["expected"], entry
    assert {e["kind"] for e in ledger if e["source"] == "gen"} >= {
        "truncated_image", "zero_byte_file", "non_image_bytes", "decompression_bomb", "grayscale", "rgba", "cmyk",
        "16_bit", "extreme_aspect_ratio", "tiny_image", "empty_caption", "overlong_caption", "invalid_utf8",
        "missing_image", "malformed_json", "duplicate_image"}
    metadata = gen_metadata(raw)
    low = {("shapes_gen", p) for p, m in metadata.items() if m.get("aesthetic", 10) < 5.0} - broken_positions
    assert low and {k for k in found if k not in broken_positions} == low
    assert all(found[k] == "low_aesthetic" for k in low)
    for task in ("gen", "und", "text"):
        t = report["tasks"][task]
        assert t["read"] == written[f"{task}_records"]
        assert t["read"] == t["kept"] + t["quarantined"] + t["sampled_out"] == len(kept[task]) + (quarantine.task == task).sum()
    assert report["reasons"] == quarantine.reason.value_counts().sort_index().to_dict()


def test_every_broken_record_gets_its_reason_and_nothing_else_is_lost(small_world):
    check_ledger(small_world["raw"], small_world["manifests"], small_world["report"], small_world["counts"])


@pytest.mark.slow
def test_the_default_tiny_world_filters_exactly_as_its_ledger_says(tmp_path):
    """The world the main job writes (params.yaml settings, 12,360 records), not only the small test world."""
    profile = load_params(REPO_PARAMS).select("tiny").data
    written = write_shapes_world(profile.shapes_world, tmp_path / "raw", progress=False)
    report = build_manifests(small_sources(tmp_path / "raw"), profile.filters, tmp_path / "manifests",
                             workers=2, progress=False)
    check_ledger(tmp_path / "raw", tmp_path / "manifests", report, written)


def test_modes_are_quarantined_when_conversion_is_off(small_world, tmp_path):
    report = build_manifests(small_world["specs"], small_filters(convert_modes=False), tmp_path, progress=False)
    ledger = json.loads((small_world["raw"] / "corruptions.json").read_text())
    repaired = sum(e["expected"] == REPAIRED for e in ledger)
    assert report["reasons"]["unsupported_mode"] == repaired
    assert sum(t["repaired"] for t in report["tasks"].values()) == 0


def test_repaired_pixels_are_correct():
    gray = Image.fromarray(np.full((40, 40, 3), (30, 160, 50), dtype=np.uint8))
    wide = decode_image(broken_image("16_bit", gray)[0], 10**8)
    assert wide.source_mode == "I;16"
    assert np.array_equal(np.asarray(wide.image), np.asarray(gray.convert("L").convert("RGB")))
    rgba = decode_image(broken_image("rgba", gray)[0], 10**8)
    pixels = np.asarray(rgba.image)
    assert tuple(pixels[0, 0]) == (127, 127, 127) and tuple(pixels[-1, -1]) == (30, 160, 50)
    cmyk = decode_image(broken_image("cmyk", gray)[0], 10**8)
    assert cmyk.source_mode == "CMYK" and np.abs(np.asarray(cmyk.image).astype(int) - (30, 160, 50)).max() < 12


@pytest.mark.parametrize("kind,reason", [
    ("truncated_image", "truncated_image"), ("zero_byte_file", "empty_file"), ("non_image_bytes", "not_an_image"),
    ("decompression_bomb", "decompression_bomb"),
])
def test_decode_reasons(kind, reason):
    image = Image.new("RGB", (64, 64), (200, 10, 10))
    with pytest.raises(ImageProblem) as caught:
        decode_image(broken_image(kind, image)[0], 40_000_000)
    assert caught.value.reason == reason


def test_max_pixels_is_checked_from_the_header_before_decoding():
    big = png_bytes(Image.new("RGB", (300, 200)))
    with pytest.raises(ImageProblem, match="300x200 exceeds max_pixels=50000") as caught:
        decode_image(big, 50_000)
    assert caught.value.reason == "decompression_bomb"


def test_pixel_hash_ignores_encoding():
    image = Image.new("RGB", (8, 8), (1, 2, 3))
    as_bmp = io.BytesIO()
    image.save(as_bmp, format="BMP")
    assert pixel_hash(decode_image(as_bmp.getvalue(), 10**6).image) == pixel_hash(decode_image(png_bytes(image), 10**6).image)
    assert pixel_hash(to_rgb(Image.new("L", (8, 8), 3))) != pixel_hash(image)


def test_conversation_checks():
    config = FilterConfig(max_words=10)
    good = [{"role": "User", "content": "<image>\nWhat color?"}, {"role": "Assistant", "content": "red"}]
    assert check_conversation(good, True, config) == (None, "")
    assert check_conversation(good[:1], True, config)[1] == "the last turn is not an Assistant answer"
    assert check_conversation(good[::-1], True, config)[1] == "turn 0 is Assistant, expected User"
    assert check_conversation([good[0], {"role": "Assistant", "content": " "}], True, config)[1] == "turn 1 (Assistant) is empty"
    no_tag = [{"role": "User", "content": "What color?"}, good[1]]
    assert check_conversation(no_tag, True, config)[1] == "0 <image> tag(s) for 1 image"
    long = [good[0], {"role": "Assistant", "content": "red " * 20}]
    assert check_conversation(long, True, config)[0] == "conversation_too_long"


def test_workers_and_keep_fraction_are_deterministic(small_world, tmp_path):
    specs = small_world["specs"]
    one = build_manifests(specs, small_filters(keep_fraction=0.5), tmp_path / "one", seed=3, workers=1, progress=False)
    two = build_manifests(specs, small_filters(keep_fraction=0.5), tmp_path / "two", seed=3, workers=2, progress=False)
    assert one["tasks"] == two["tasks"]
    for task in ("gen", "und", "text", "quarantine"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "one" / f"{task}.parquet"),
                                      pd.read_parquet(tmp_path / "two" / f"{task}.parquet"))
    passed = small_world["report"]["tasks"]["gen"]["kept"]
    expected = sum(sampled_in(3, "shapes_gen", int(p), 0.5)
                   for p in pd.read_parquet(small_world["manifests"] / "gen.parquet").position)
    assert one["tasks"]["gen"]["kept"] == expected and 0 < expected < passed
    assert one["tasks"]["gen"]["sampled_out"] == passed - expected


def test_bad_filter_settings_are_named(tmp_path):
    with pytest.raises(ValueError, match="keep_fraction=0 must be in"):
        FilterConfig(keep_fraction=0)
    with pytest.raises(ValueError, match="no filter settings for data type"):
        build_manifests(small_sources("/nowhere"), {"gen": FilterConfig()}, tmp_path / "unused", progress=False)


def test_raw_record_problem_wins_over_everything():
    from data.filtering import check_record

    record = RawRecord(source="s", position=0, key="k", problem="malformed_json", detail="line 3")
    assert check_record(record, "gen", FilterConfig()).reason == "malformed_json"
