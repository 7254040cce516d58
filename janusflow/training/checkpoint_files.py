"""Composer's checkpoint folder as autoresume finds it: the newest intact checkpoint behind ``latest-rank<r>.pt``.

A kill or a full disk can leave the newest checkpoint truncated; Composer would then fail to resume although the
previous checkpoint is fine. Torch checkpoints are zip archives with a CRC per member, so a damaged one is found
without unpickling it.
"""

from __future__ import annotations

import os
import re
import warnings
import zipfile
from collections import defaultdict
from pathlib import Path

NAME = "ep{epoch}-ba{batch}-rank{rank}.pt"   # Composer's default names, which the pattern below reads back
CHECKPOINT = re.compile(r"^ep(\d+)-ba(\d+)-rank(\d+)\.pt$")
LATEST = "latest-rank{rank}.pt"


def damage(path: Path) -> str | None:
    """Why a torch checkpoint file cannot be loaded (a truncated archive, a member failing its CRC), or None."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        return f"not a complete checkpoint archive ({error})"
    return f"member {bad} fails its CRC check" if bad else None


def checkpoints_by_batch(folder: Path) -> dict[int, list[Path]]:
    """Every rank's checkpoint file, by the batch it was saved at."""
    found: dict[int, list[Path]] = defaultdict(list)
    for path in folder.iterdir():
        match = CHECKPOINT.match(path.name)
        if match and not path.is_symlink():
            found[int(match[2])].append(path)
    return dict(found)


def fall_back_to_intact(folder: str | Path) -> list[str]:
    """Drop damaged checkpoints, newest first, and point every rank's ``latest`` link at the newest batch whose
    files are all intact (no link at all when none is: the stage starts over). Returns one line per checkpoint
    dropped; each is also a warning."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    dropped = []
    by_batch = checkpoints_by_batch(folder)
    for batch in sorted(by_batch, reverse=True):
        problems = [f"{path.name}: {why}" for path in by_batch[batch] if (why := damage(path))]
        if not problems:
            for path in by_batch[batch]:
                link = folder / LATEST.format(rank=CHECKPOINT.match(path.name)[3])
                if not (link.is_symlink() and os.readlink(link) == path.name):
                    link.unlink(missing_ok=True)
                    link.symlink_to(path.name)
            return dropped
        for path in by_batch[batch]:
            path.unlink()
        line = (f"checkpoint at batch {batch} in {folder} is damaged ({'; '.join(problems)}); resuming from the one "
                "before")
        warnings.warn(line, stacklevel=2)
        dropped.append(line)
    for link in folder.glob(LATEST.format(rank="*")):
        link.unlink()
    return dropped
