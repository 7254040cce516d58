"""Publishing: a stage's output is replaced whole or not at all, and one output has one writer at a time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data.publish import OutputBusyError, atomic_file, output_lock, publishing, recover, write_atomic

HOLD_LOCK = """
import sys, time
from data.publish import output_lock
with output_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""
KILLED_MID_WRITE = """
import os, sys
from data.publish import publishing
with publishing(sys.argv[1]) as staging:
    (staging / "first.txt").write_text("new")
    print("writing", flush=True)
    os.kill(os.getpid(), 9)
"""


def contents(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def start(script: str, *args: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[1])
    process.stdout.readline()   # the child has reached its point
    return process


def test_a_publish_replaces_the_whole_folder(tmp_path):
    target = tmp_path / "out"
    with publishing(target) as staging:
        (staging / "a.txt").write_text("1")
        (staging / "old.tar").write_text("from a larger run")
    with publishing(target) as staging:
        (staging / "a.txt").write_text("2")
    assert contents(target) == {"a.txt": "2"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out"]


def test_a_failure_or_a_failed_verification_publishes_nothing(tmp_path):
    target = tmp_path / "out"
    with publishing(target) as staging:
        (staging / "a.txt").write_text("good")
    with pytest.raises(RuntimeError, match="midway"), publishing(target) as staging:
        (staging / "a.txt").write_text("half")
        raise RuntimeError("midway")

    def reject(folder: Path) -> None:
        raise ValueError(f"{sorted(p.name for p in folder.iterdir())} failed verification")

    with pytest.raises(ValueError, match=r"\['a.txt'\] failed verification"), publishing(target, reject) as staging:
        (staging / "a.txt").write_text("unverified")
    assert contents(target) == {"a.txt": "good"}
    assert not (tmp_path / ".out.staging").exists()


def test_a_run_killed_mid_write_leaves_the_previous_output_and_the_next_run_cleans_up(tmp_path):
    target = tmp_path / "out"
    with publishing(target) as staging:
        (staging / "first.txt").write_text("old")
    process = start(KILLED_MID_WRITE, str(target))
    assert process.wait() == -signal.SIGKILL
    assert contents(target) == {"first.txt": "old"}
    assert (tmp_path / ".out.staging" / "first.txt").read_text() == "new"   # what the kill left, never read
    with publishing(target) as staging:
        (staging / "first.txt").write_text("rerun")
    assert contents(target) == {"first.txt": "rerun"} and not (tmp_path / ".out.staging").exists()


def test_recover_restores_an_output_killed_between_the_two_renames(tmp_path):
    target = tmp_path / "out"
    previous = tmp_path / ".out.previous"
    previous.mkdir()
    (previous / "a.txt").write_text("old")
    recover(target)
    assert contents(target) == {"a.txt": "old"} and not previous.exists()


def test_a_second_writer_is_refused_with_the_holders_pid_or_waits_for_it(tmp_path):
    target = tmp_path / "out"
    holder = start(HOLD_LOCK, str(target), "2")
    with pytest.raises(OutputBusyError, match=rf"{target} is being written by another run \(pid {holder.pid}\)"):
        with publishing(target):
            pass
    started = time.monotonic()
    with publishing(target, wait_seconds=30) as staging:
        (staging / "a.txt").write_text("after")
    assert holder.wait() == 0 and time.monotonic() - started > 0.5
    assert contents(target) == {"a.txt": "after"}


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = start(HOLD_LOCK, str(tmp_path / "out"), "60")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with output_lock(tmp_path / "out"):
        assert (tmp_path / ".out.lock").read_text() == f"{os.getpid()}\n"


def test_atomic_files_keep_the_old_content_when_writing_fails(tmp_path):
    path = write_atomic(tmp_path / "metrics.json", "old")
    with pytest.raises(OSError, match="disk full"), atomic_file(path) as partial:
        partial.write_text("half")
        raise OSError("disk full")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    with atomic_file(tmp_path / "features.npy") as partial:
        assert partial.suffix == ".npy" and partial.parent == tmp_path   # numpy keeps the name; same filesystem
        partial.write_bytes(b"x")
    assert (tmp_path / "features.npy").read_bytes() == b"x"


def test_without_an_atomic_exchange_two_renames_publish_the_same(tmp_path, monkeypatch):
    monkeypatch.setattr("data.publish._exchange", lambda first, second: False)
    target = tmp_path / "out"
    for content in ("1", "2"):
        with publishing(target) as staging:
            (staging / "a.txt").write_text(content)
    assert contents(target) == {"a.txt": "2"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out"]
