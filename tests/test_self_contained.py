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
        found += [f"{path.relative_to(ROOT)}: {m}" for m in RELATIVE.findall(text) if escapes(path, m)]
        found += [f"{path.relative_to(ROOT)}: {m}" for m in ABSOLUTE.findall(text)]
    assert not found, "paths outside the repository:\n" + "\n".join(found)


def test_the_guard_finds_an_escaping_path():
    inside = ROOT / "evals" / "run.py"
    up_twice = "../" * 2 + "elsewhere"  # built at run time, so that this file itself holds no such path
    assert escapes(inside, up_twice) and not escapes(inside, "../data")
    assert RELATIVE.findall(f"read {up_twice}/x") == [up_twice]
    absolute = ["/" + "/".join(parts) for parts in (("work", "elsewhere"), ("tmp", "run"))]
    text = f"read {absolute[0]}/x or {absolute[1]} but not a{absolute[1]}"
    assert ABSOLUTE.findall(text) == absolute
