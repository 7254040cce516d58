"""Content digests that travel with an artifact, so that its reader can tell a damaged copy from the one written."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path


class IntegrityError(RuntimeError):
    """A file differs from the digest recorded when it was written."""


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks (checkpoints are gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_digests(folder: str | Path, names: Iterable[str], record: str) -> dict[str, str]:
    """Write ``folder/record``: the sha256 of each named file of ``folder``; returns the mapping."""
    folder = Path(folder)
    digests = {name: file_digest(folder / name) for name in sorted(names)}
    (folder / record).write_text(json.dumps(digests, indent=1) + "\n")
    return digests


def check_digests(folder: str | Path, record: str, fix: str) -> int:
    """Check every file listed in ``folder/record`` against its digest; returns how many were checked (0 when the
    folder has no record, as for weights written elsewhere). ``fix`` is what the error tells the reader to do."""
    folder = Path(folder)
    path = folder / record
    if not path.is_file():
        return 0
    try:
        digests = json.loads(path.read_text())
    except ValueError as error:
        raise IntegrityError(f"{path} is not valid JSON ({error}); {fix}") from None
    for name, expected in digests.items():
        target = folder / name
        if not target.is_file():
            raise IntegrityError(f"{target} is missing (listed in {path}); {fix}")
        if file_digest(target) != expected:
            raise IntegrityError(f"{target} differs from the file that was written (sha256 recorded in {path}); "
                                 f"it is damaged. {fix}")
    return len(digests)
