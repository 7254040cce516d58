"""Publishing a stage's output so that nothing half-written is ever read.

A stage writes into a staging folder beside its output, verifies it there, and swaps it in with one atomic rename.
A crash or an error before the swap leaves the previous output exactly as it was (the staging folder is cleared on
the next run). A lock per output makes a second run of the same stage wait for, or refuse, the first one: two runs
never interleave their files. Single files (metrics, caches) are written to a temporary name and renamed over.
Outputs that a later run resumes from (checkpoints, samples, answers) are claimed by a record of what made them
(``claim``), so that a run never resumes from another run's work.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

AT_FDCWD = -100
RENAME_EXCHANGE = 2
POLL_SECONDS = 0.2


class OutputBusyError(RuntimeError):
    """Another process holds the output's lock."""


def _sibling(target: Path, role: str) -> Path:
    return target.parent / f".{target.name}.{role}"


def lock_path(target: str | Path) -> Path:
    """Where the lock of ``target`` lives: a hidden file beside it, so it needs no extra configuration."""
    return _sibling(Path(target), "lock")


@contextlib.contextmanager
def output_lock(target: str | Path, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold ``target``'s lock (an ``flock``: the kernel drops it when its holder dies, so a killed run leaves no
    stale lock). A busy lock is waited for up to ``wait_seconds``, then refused naming the holder's pid."""
    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    raise OutputBusyError(
                        f"{target} is being written by another run (pid {holder}); wait for it to finish or stop it. "
                        "Two runs never write one output at once.") from None
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where it is unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    result = renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(first))


def _remove(path: Path) -> None:
    """Delete a file, link or folder; nothing when the path does not exist."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def swap_in(staging: Path, target: Path) -> None:
    """Make ``staging`` the content of ``target``. Readers see the old output or the new one, never a mix: one
    exchange where the kernel supports it, otherwise two renames whose gap shows a missing output (which every
    reader treats as "not built"), and which ``recover`` repairs if the process dies in between."""
    if not target.exists() and not target.is_symlink():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        _remove(staging)
        return
    previous = _sibling(target, "previous")
    _remove(previous)
    os.rename(target, previous)
    os.rename(staging, target)
    _remove(previous)


def recover(target: Path) -> None:
    """Undo what a run killed mid-publish left: restore the previous output if the new one never arrived, and
    drop unfinished staging folders."""
    previous = _sibling(target, "previous")
    if previous.exists() and not target.exists():
        os.rename(previous, target)
    _remove(previous)
    _remove(_sibling(target, "staging"))


@contextlib.contextmanager
def publishing(target: str | Path, verify: Callable[[Path], object] | None = None,
               wait_seconds: float = 0.0) -> Iterator[Path]:
    """Yield an empty staging folder for ``target``'s new content; on a clean exit run ``verify(staging)`` and swap
    it in. Any exception (or a kill) leaves ``target`` as it was before the run."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(target, wait_seconds):
        recover(target)
        staging = _sibling(target, "staging")
        staging.mkdir()
        try:
            yield staging
            if verify is not None:
                verify(staging)
        except BaseException:
            _remove(staging)
            raise
        swap_in(staging, target)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write with any library (numpy, pandas, PIL); on a clean exit it is
    synced and renamed over ``path``, so a reader sees the old file or all of the new one, never a truncated one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.stem}.{os.getpid()}.tmp{path.suffix}"
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write one file atomically (see ``atomic_file``)."""
    with atomic_file(path) as temporary:
        temporary.write_bytes(content.encode() if isinstance(content, str) else content)
    return Path(path)


class RunFolderMismatch(ValueError):
    """A folder holds outputs made from other inputs or settings, and the caller may not replace them."""


def claim(folder: Path, marker: Path, identity: dict[str, Any], stale: Literal["discard", "refuse"]) -> bool:
    """Keep ``folder``'s outputs only while ``marker`` records ``identity`` (what made them), so that work resumes
    only from work of the same kind. Outputs of something else (a differing record, or outputs without one) are
    removed (``discard``: a retrained checkpoint, changed stage settings) or refused with what differs (``refuse``:
    a folder the user named). Records ``identity``; returns whether stale outputs were discarded."""
    recorded = json.loads(marker.read_text()) if marker.is_file() else None
    changed = {key: (recorded.get(key), value) for key, value in identity.items()
               if recorded is not None and recorded.get(key) != value}
    unrecorded = recorded is None and folder.is_dir() and any(p != marker for p in folder.iterdir())
    if changed and stale == "refuse":
        differences = ", ".join(f"{key}: {there!r} there, {now!r} now" for key, (there, now) in changed.items())
        raise RunFolderMismatch(f"{folder} holds outputs made with other settings ({differences}); pass another "
                                "output folder or delete this one.")
    discard = stale == "discard" and bool(changed or unrecorded)
    if discard:
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(marker, json.dumps({**(recorded if not discard and recorded else {}), **identity}, indent=1,
                                    sort_keys=True) + "\n")
    return discard
