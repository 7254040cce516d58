"""Hostile raw inputs: every malformed record is quarantined with a reason, none crashes the filter stage, none is
dropped unseen (read = kept + quarantined per source), no path leaves its root and no detail quotes file content."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile

import pandas as pd
import pytest
from PIL import Image

from data.manifest import build_manifests
from data.shapes.corruptions import png_bytes
from data.sources import SourceError, read_source
from settings.data import FilterConfig, SourceSpec

PNG = png_bytes(Image.new("RGB", (40, 40), (200, 30, 30)))
FILTERS = {task: FilterConfig(min_side=32, max_aspect_ratio=2.0, min_words=1, max_words=50, max_chars=2000)
           for task in ("gen", "und", "text")}


def tar_bytes(members: list[tarfile.TarInfo | tuple[str, bytes]], end_marker: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
                continue
            name, payload = member
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        body_end = tar.offset
    data = buffer.getvalue()
    return data if end_marker else data[:body_end]


def sample(key: str, caption: str = "a red square", **meta) -> list[tuple[str, bytes]]:
    members = [(f"{key}.png", PNG), (f"{key}.txt", caption.encode())]
    return members + ([(f"{key}.json", json.dumps(meta).encode())] if meta else [])


def webdataset(tmp_path, data: bytes, name: str = "00000.tar") -> SourceSpec:
    (tmp_path / name).write_bytes(data)
    return SourceSpec(name="web", format="webdataset", path=str(tmp_path / "*.tar"), feeds="gen",
                      max_file_bytes=100_000)


def reasons(spec: SourceSpec) -> list[tuple[str, str | None]]:
    return [(record.key, record.problem) for record in read_source(spec)]


def counts(report: dict, source: str) -> tuple[int, int, int]:
    entry = report["sources"][source]
    return entry["read"], entry["kept"], entry["quarantined"]


def test_a_tar_cut_mid_member_keeps_the_good_samples_and_quarantines_the_cut_one(tmp_path):
    whole = tar_bytes(sample("a") + sample("b"))
    cut = whole[:whole.index(PNG, whole.index(b"b.png")) + 100]   # inside b's image
    spec = webdataset(tmp_path, cut)
    assert reasons(spec) == [("a", None), ("b", "unreadable_shard")]
    report = build_manifests([spec], FILTERS, tmp_path / "manifests", progress=False)
    assert counts(report, "web") == (2, 1, 1)


def test_a_tar_cut_at_a_member_boundary_is_a_quarantined_record_not_a_silent_loss(tmp_path):
    spec = webdataset(tmp_path, tar_bytes(sample("a") + sample("b"), end_marker=False))
    found = reasons(spec)
    assert found[:2] == [("a", None), ("b", None)]
    assert found[2] == (str(tmp_path / "00000.tar"), "truncated_shard")


def test_duplicate_link_and_oversized_members_are_quarantined_and_unused_members_skipped_unread(tmp_path,
                                                                                                monkeypatch):
    extracted = []
    original = tarfile.TarFile.extractfile
    monkeypatch.setattr(tarfile.TarFile, "extractfile",
                        lambda tar, member: extracted.append(member.name) or original(tar, member))
    link = tarfile.TarInfo("c.png")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    members = [*sample("a"), ("a.png", PNG), *sample("b"), ("b.npy", b"x" * 50_000), link, ("c.txt", b"c"),
               ("d.txt", b"d"), ("d.png", b"\0" * 200_000)]
    spec = webdataset(tmp_path, tar_bytes(members))
    assert reasons(spec) == [("a", "duplicate_member"), ("b", None), ("c", "unsupported_member"),
                             ("d", "file_too_large")]
    # never read: b.npy (unused), the second a.png, the link, the oversized d.png
    assert extracted == ["a.png", "a.txt", "b.png", "b.txt", "c.txt", "d.txt"]


@pytest.mark.parametrize(("score", "kept"), [("9.5", False), (float("nan"), False), (True, False), (6.0, True)])
def test_an_aesthetic_score_that_is_not_a_finite_number_is_quarantined(tmp_path, score, kept):
    meta = json.dumps({"aesthetic": score}).replace('"NaN"', "NaN").encode()
    spec = webdataset(tmp_path, tar_bytes([("a.png", PNG), ("a.txt", b"a red square"), ("a.json", meta)]))
    filters = {"gen": FilterConfig(min_side=32, min_aesthetic=5.0)}
    report = build_manifests([spec], filters, tmp_path / "manifests", progress=False)
    assert counts(report, "web") == (1, int(kept), int(not kept))
    assert kept or report["reasons"] == {"invalid_aesthetic": 1}


def test_a_small_gzip_hiding_a_huge_member_is_not_read_into_memory(tmp_path):
    data = gzip.compress(tar_bytes([("a.png", b"\0" * 5_000_000), ("a.txt", b"x")]))
    assert len(data) < 10_000
    spec = webdataset(tmp_path, data, "00000.tar.gz")
    spec = SourceSpec(**{**spec.__dict__, "path": str(tmp_path / "*.tar.gz")})
    assert reasons(spec) == [("a", "file_too_large")]


def llava(tmp_path, entries: list, images: dict[str, bytes] | None = None) -> SourceSpec:
    root = tmp_path / "images"
    root.mkdir(exist_ok=True)
    for name, payload in (images or {}).items():
        (root / name).write_bytes(payload)
    (tmp_path / "conversations.json").write_text(json.dumps(entries))
    return SourceSpec(name="llava", format="llava", path=str(tmp_path / "conversations.json"), feeds="und",
                      image_root=str(root), max_file_bytes=100_000)


def turns(question: str = "<image>\nWhat is it?", answer: str = "A square.") -> list[dict]:
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]


def test_image_paths_stay_inside_the_image_root(tmp_path):
    (tmp_path / "secret.png").write_bytes(PNG)
    spec = llava(tmp_path, [{"id": "up", "image": "../secret.png", "conversations": turns()},
                            {"id": "absolute", "image": str(tmp_path / "secret.png"), "conversations": turns()},
                            {"id": "link", "image": "link.png", "conversations": turns()},
                            {"id": "folder", "image": "sub", "conversations": turns()},
                            {"id": "fine", "image": "ok.png", "conversations": turns()}],
                 {"ok.png": PNG})
    os.symlink(tmp_path / "secret.png", tmp_path / "images" / "link.png")
    (tmp_path / "images" / "sub").mkdir()
    records = list(read_source(spec))
    assert [(r.key, r.problem) for r in records] == [
        ("up", "path_outside_root"), ("absolute", "path_outside_root"), ("link", "path_outside_root"),
        ("folder", "unreadable_image"), ("fine", None)]
    assert all(r.image is None for r in records[:4])


def test_nested_json_surrogates_and_a_huge_caption_are_quarantined_and_the_manifest_is_written(tmp_path):
    nested = "[" * 100_000 + "]" * 100_000
    lines = [json.dumps({"text": "fine text"}), '{"text": ' + nested + "}", json.dumps({"text": "bad \ud800 half"}),
             json.dumps({"id": "\udfff", "text": "surrogate key"}), json.dumps({"text": "x" * 5000}), ""]
    (tmp_path / "documents.jsonl").write_text("\n".join(lines), encoding="utf-8")
    spec = SourceSpec(name="text", format="text_jsonl", path=str(tmp_path / "documents.jsonl"), feeds="text")
    report = build_manifests([spec], FILTERS, tmp_path / "manifests", progress=False)
    quarantine = pd.read_parquet(tmp_path / "manifests" / "quarantine.parquet")
    assert counts(report, "text") == (5, 1, 4)
    assert quarantine["reason"].tolist() == ["malformed_json", "invalid_utf8", "invalid_utf8", "text_too_long"]
    assert quarantine["key"].tolist()[2] == "\\udfff"   # written escaped, not lost
    assert pd.read_parquet(tmp_path / "manifests" / "text.parquet")["text"].tolist() == ["fine text"]


def test_one_word_of_five_megabytes_is_too_long_a_caption(tmp_path):
    spec = webdataset(tmp_path, tar_bytes(sample("a", caption="w" * 5_000_000)))
    spec = SourceSpec(**{**spec.__dict__, "max_file_bytes": 10_000_000})
    report = build_manifests([spec], FILTERS, tmp_path / "manifests", progress=False)
    assert report["reasons"] == {"caption_too_long": 1}


def test_coco_entries_of_the_wrong_type_are_quarantined_each(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "1.png").write_bytes(PNG)
    coco = {"images": [{"id": 1, "file_name": "1.png"}, "not an image", {"id": [2], "file_name": "2.png"},
                       {"id": 3, "file_name": 7}],
            "annotations": [{"id": 1, "image_id": 1, "caption": "a red square"}, 5, {"image_id": 1, "caption": None},
                            {"image_id": {"x": 1}, "caption": "unhashable"}]}
    (tmp_path / "captions.json").write_text(json.dumps(coco))
    spec = SourceSpec(name="coco", format="coco_captions", path=str(tmp_path / "captions.json"),
                      image_root=str(tmp_path / "train"), feeds="gen")
    assert reasons(spec) == [("annotation[1]", "malformed_annotation"), ("annotation[2]", "malformed_annotation"),
                             ("annotation[3]", "malformed_annotation"), ("1", None),
                             ("images[1]", "malformed_entry"), ("images[2]", "malformed_entry"),
                             ("images[3]", "malformed_entry")]


def test_empty_or_unopenable_source_files_are_errors_that_name_them(tmp_path):
    (tmp_path / "documents.jsonl").write_text("\n\n")
    spec = SourceSpec(name="text", format="text_jsonl", path=str(tmp_path / "documents.jsonl"), feeds="text")
    with pytest.raises(SourceError, match=r"documents.jsonl holds no records; replace the file"):
        list(read_source(spec))
    (tmp_path / "folder.jsonl").mkdir()
    spec = SourceSpec(name="text", format="text_jsonl", path=str(tmp_path / "folder.jsonl"), feeds="text")
    with pytest.raises(SourceError, match=r"cannot read .*folder.jsonl \(IsADirectoryError"):
        list(read_source(spec))
    with pytest.raises(SourceError, match=r"conversations.json holds no records"):
        list(read_source(llava(tmp_path, [])))


def test_quarantine_details_never_quote_the_bytes_they_read(tmp_path):
    secret = b"PASSWORD=hunter2 " * 10
    spec = llava(tmp_path, [{"id": "a", "image": "a.png", "conversations": turns()}], {"a.png": secret})
    build_manifests([spec], FILTERS, tmp_path / "manifests", progress=False)
    quarantine = pd.read_parquet(tmp_path / "manifests" / "quarantine.parquet")
    assert quarantine[["reason", "detail"]].values.tolist() == [
        ["not_an_image", "170 bytes in no image format PIL reads"]]


def test_a_jsonl_line_over_the_limit_is_quarantined_without_being_read_whole(tmp_path):
    lines = [json.dumps({"text": "before"}), json.dumps({"text": "y" * 3_000_000}), json.dumps({"text": "after"})]
    (tmp_path / "documents.jsonl").write_text("\n".join(lines) + "\n")
    spec = SourceSpec(name="text", format="text_jsonl", path=str(tmp_path / "documents.jsonl"), feeds="text",
                      max_file_bytes=1_000_000)
    records = list(read_source(spec))
    assert [(r.key, r.text, r.problem) for r in records] == [
        ("1", "before", None), ("documents.jsonl:2", None, "record_too_large"), ("3", "after", None)]
