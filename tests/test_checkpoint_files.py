"""Autoresume's view of a checkpoint folder: the newest intact checkpoint, found by the archives' CRCs."""

from __future__ import annotations

import os
import zipfile

import pytest

from janusflow.training.checkpoint_files import damage, fall_back_to_intact


def checkpoint(path, payload: bytes = b"weights" * 100) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)


def test_damage_names_truncation_and_flipped_bytes(tmp_path):
    checkpoint(tmp_path / "good.pt")
    assert damage(tmp_path / "good.pt") is None
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[:-30])
    assert damage(tmp_path / "cut.pt").startswith("not a complete checkpoint archive")
    flipped = bytearray(data)
    flipped[data.index(b"weights") + 3] ^= 0x01
    (tmp_path / "flipped.pt").write_bytes(bytes(flipped))
    assert damage(tmp_path / "flipped.pt") == "member archive/data.pkl fails its CRC check"


def test_the_latest_links_move_to_the_newest_batch_whose_every_rank_is_intact(tmp_path):
    for batch in (2, 4, 6):
        for rank in (0, 1):
            checkpoint(tmp_path / f"ep0-ba{batch}-rank{rank}.pt")
    (tmp_path / "ep0-ba6-rank1.pt").write_bytes(b"half")
    for rank in (0, 1):
        os.symlink(f"ep0-ba6-rank{rank}.pt", tmp_path / f"latest-rank{rank}.pt")
    with pytest.warns(UserWarning, match=r"batch 6 .* \(ep0-ba6-rank1.pt: not a complete checkpoint archive"):
        dropped = fall_back_to_intact(tmp_path)
    assert len(dropped) == 1
    assert sorted(p.name for p in tmp_path.glob("ep*")) == [f"ep0-ba{b}-rank{r}.pt" for b in (2, 4) for r in (0, 1)]
    assert [os.readlink(tmp_path / f"latest-rank{r}.pt") for r in (0, 1)] == ["ep0-ba4-rank0.pt", "ep0-ba4-rank1.pt"]


def test_with_no_intact_checkpoint_the_stage_starts_over(tmp_path):
    (tmp_path / "ep0-ba2-rank0.pt").write_bytes(b"")
    os.symlink("ep0-ba2-rank0.pt", tmp_path / "latest-rank0.pt")
    with pytest.warns(UserWarning):
        fall_back_to_intact(tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert fall_back_to_intact(tmp_path / "missing") == []
