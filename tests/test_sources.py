"""Raw-source adapters, each on a small fixture in its real layout, from local paths and fsspec URLs."""

from __future__ import annotations

import io
import json
import tarfile

import fsspec
import pytest
from PIL import Image

from data.shapes.corruptions import png_bytes
from data.sources import SourceError, read_source
from settings.data import SourceSpec, source_specs
from settings.typed import SettingsError


def jpeg(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def write_tar(path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def laion_members(start: int) -> list[tuple[str, bytes]]:
    members = []
    for key in range(start, start + 2):
        members += [(f"{key:09d}.jpg", jpeg((key * 40 % 255, 0, 0))), (f"{key:09d}.txt", f"caption {key}".encode()),
                    (f"{key:09d}.json", json.dumps({"width": 40, "height": 30, "AESTHETIC_SCORE": 5.5 + key}).encode())]
    return members


def test_webdataset_reads_laion_style_shards_in_order(tmp_path):
    write_tar(tmp_path / "00000.tar", laion_members(0))
    write_tar(tmp_path / "00001.tar", laion_members(2))
    spec = SourceSpec(name="laion", format="webdataset", path=str(tmp_path / "*.tar"), feeds="gen")
    records = list(read_source(spec))
    assert [r.key for r in records] == ["000000000", "000000001", "000000002", "000000003"]
    assert [r.position for r in records] == [0, 1, 2, 3]
    assert records[3].caption == "caption 3" and records[3].meta == {"width": 40, "height": 30, "aesthetic": 8.5}
    assert Image.open(io.BytesIO(records[1].image)).size == (40, 30) and records[1].problem is None


def test_webdataset_over_an_fsspec_url_and_as_understanding(tmp_path):
    memory = fsspec.filesystem("memory")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, payload in laion_members(0):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    memory.pipe("/laion/00000.tar", buffer.getvalue())
    spec = SourceSpec(name="laion", format="webdataset", path="memory://laion/*.tar", feeds="und")
    records = list(read_source(spec))
    assert len(records) == 2
    assert records[0].conversation == [
        {"role": "User", "content": "<image>\nGenerate the caption of this picture."},
        {"role": "Assistant", "content": "caption 0"}]


def test_an_unreadable_shard_is_one_record_and_an_unreadable_source_an_error(tmp_path):
    write_tar(tmp_path / "00000.tar", laion_members(0))
    (tmp_path / "00001.tar").write_bytes(b"this is not a tar file" * 40)
    spec = SourceSpec(name="laion", format="webdataset", path=str(tmp_path / "*.tar"), feeds="gen")
    records = list(read_source(spec))
    assert [r.problem for r in records] == [None, None, "unreadable_shard"]
    (tmp_path / "00000.tar").write_bytes(b"broken")
    with pytest.raises(SourceError, match="source 'laion': none of its 2 tar file"):
        list(read_source(spec))
    missing = SourceSpec(name="cc3m", format="webdataset", path=str(tmp_path / "nothing/*.tar"), feeds="gen")
    with pytest.raises(SourceError, match="source 'cc3m' \\(webdataset\\) matched no files"):
        list(read_source(missing))


def test_llava_json_with_an_image_root(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images/a.png").write_bytes(png_bytes(Image.new("RGB", (32, 32))))
    entries = [
        {"id": "a", "image": "a.png", "conversations": [{"from": "human", "value": "<image>\nWhat?"},
                                                         {"from": "gpt", "value": "A square."}]},
        {"id": "b", "image": "b.png", "conversations": [{"from": "human", "value": "<image>\nWhat?"},
                                                         {"from": "gpt", "value": "x"}]},
        {"id": "c", "image": "a.png", "conversations": [{"from": "robot", "value": "hi"}]},
    ]
    (tmp_path / "llava.json").write_text(json.dumps(entries))
    spec = SourceSpec(name="llava", format="llava", path=str(tmp_path / "llava.json"),
                      image_root=str(tmp_path / "images"), feeds="und")
    a, b, c = read_source(spec)
    assert a.problem is None and a.conversation[1] == {"role": "Assistant", "content": "A square."}
    assert b.problem == "missing_image" and b.detail.endswith("images/b.png does not exist")
    assert c.problem == "malformed_conversation" and "turn 0" in c.detail
    (tmp_path / "llava.json").write_text("[{broken")
    with pytest.raises(SourceError, match="llava.json is not a JSON list of conversations"):
        list(read_source(spec))


def test_coco_captions_one_record_per_image(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train/1.jpg").write_bytes(jpeg((0, 200, 0)))
    coco = {"images": [{"id": 2, "file_name": "2.jpg", "width": 40, "height": 30},
                       {"id": 1, "file_name": "1.jpg", "width": 40, "height": 30}],
            "annotations": [{"id": 11, "image_id": 1, "caption": "second"}, {"id": 10, "image_id": 1, "caption": "first"},
                            {"id": 12, "image_id": 2, "caption": "orphan"}]}
    (tmp_path / "captions.json").write_text(json.dumps(coco))
    spec = SourceSpec(name="coco", format="coco_captions", path=str(tmp_path / "captions.json"),
                      image_root=str(tmp_path / "train"), feeds="gen")
    one, two = read_source(spec)
    assert (one.key, one.caption, one.meta["other_captions"]) == ("1", "first", ["second"])
    assert two.problem == "missing_image" and two.caption == "orphan"


def test_image_folder_with_metadata_jsonl(tmp_path):
    (tmp_path / "x.png").write_bytes(png_bytes(Image.new("RGB", (32, 32))))
    (tmp_path / "metadata.jsonl").write_bytes(
        b'{"file_name": "x.png", "caption": "a black square"}\n{"file_name": "y.png", "caption": "gone"}\n{broken\n')
    spec = SourceSpec(name="folder", format="image_folder", path=str(tmp_path / "metadata.jsonl"), feeds="gen")
    x, y, broken = read_source(spec)
    assert x.caption == "a black square" and x.image is not None and x.problem is None
    assert y.problem == "missing_image"
    assert broken.problem == "malformed_json" and broken.key == "metadata.jsonl:3"


def test_text_jsonl_with_a_custom_field(tmp_path):
    (tmp_path / "t.jsonl").write_bytes(b'{"id": "a", "content": "hello"}\n\n{"id": "b", "content": 3}\n\xff\xfe\n')
    spec = SourceSpec(name="web", format="text_jsonl", path=str(tmp_path / "t.jsonl"), feeds="text", text_field="content")
    a, b, c = read_source(spec)
    assert (a.key, a.text, a.position) == ("a", "hello", 0)
    assert b.problem == "empty_text" and c.problem == "invalid_utf8" and c.position == 2


def test_source_settings_are_checked():
    options = {"image_root": None, "text_field": "text", "caption_field": "caption", "max_file_bytes": 1 << 20}
    with pytest.raises(SettingsError, match="cannot feed 'text'; it can feed \\['und'\\]"):
        source_specs([{"name": "l", "format": "llava", "path": "x", "feeds": "text", **options, "image_root": "y"}])
    with pytest.raises(SettingsError, match="format 'parquet'; use one of"):
        source_specs([{"name": "p", "format": "parquet", "path": "x", "feeds": "gen", **options}])
    with pytest.raises(SettingsError, match="unknown key\\(s\\) \\['root'\\]; valid keys are"):
        source_specs([{"name": "p", "format": "llava", "path": "x", "feeds": "und", "root": "y"}])
    with pytest.raises(SettingsError, match="source 'l' \\(llava\\) needs image_root: the folder its 'image' paths"):
        source_specs([{"name": "l", "format": "llava", "path": "x", "feeds": "und", **options}])
    with pytest.raises(SettingsError, match="two sources named 'a'"):
        source_specs([{"name": "a", "format": "text_jsonl", "path": "x", "feeds": "text", **options}] * 2)
