"""The repository stands alone: nothing tracked refers to a path outside it, so a clone with nothing beside it
runs and tests as this checkout does."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RELATIVE = re.compile(r"(?:\.\./)+[\w.-]+")
ABSOLUTE = re.compile(r"(?<![\w:/.~-])/(?:work|home|Users|mnt|tmp)/[\w.-]+")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    files = []
    for name in filter(None, listed.decode().split("\0")):
        path = ROOT / name
        try:
            files.append((path, path.read_text()))
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
    return files


def escapes(path: Path, reference: str) -> bool:
    return not (path.parent / reference).resolve().is_relative_to(ROOT)


def test_no_tracked_file_refers_to_a_path_outside_the_repository():
    found = []
    for path, text in tracked_text_files():
        if path == Path(__file__).resolve():
            continue  # its own examples below
        found += [f"{path.relative_to(ROOT)}: {m}" for m in RELATIVE.findall(text) if escapes(path, m)]
        found += [f"{path.relative_to(ROOT)}: {m}" for m in ABSOLUTE.findall(text)]
    assert not found, "paths outside the repository:\n" + "\n".join(found)


def test_the_guard_finds_an_escaping_path(tmp_path):
    inside = ROOT / "evals" / "run.py"
    assert escapes(inside, "../../shared") and not escapes(inside, "../data")
    assert ABSOLUTE.findall("read /work/shared/x or /tmp/run but not a/tmp/b") == ["/work/shared", "/tmp/run"]
