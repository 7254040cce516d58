"""What every raw-source adapter yields: one ``RawRecord`` per record, in reading order, problems included.

Adapters never drop or raise on a bad record: they mark it (``problem``) so the filter can quarantine it with
its position. Only a source that cannot be read at all raises ``SourceError``.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fsspec

from settings.data import SourceSpec

IMAGE_TAG = "<image>"
ROLE_NAMES = {"human": "User", "user": "User", "gpt": "Assistant", "assistant": "Assistant"}
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif")


class SourceError(RuntimeError):
    """A whole source is unreadable: missing path, no files matched, or every file failed to open."""


@dataclass
class RawRecord:
    """One record as read from its source. ``conversation`` uses roles User/Assistant and the ``<image>`` tag."""

    source: str
    position: int
    key: str
    image: bytes | None = None
    image_name: str = ""
    caption: str | None = None
    conversation: list[dict[str, str]] | None = None
    text: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    detail: str = ""


def expand(spec: SourceSpec) -> list[fsspec.core.OpenFile]:
    """The files a source path names (local path, glob or fsspec URL), sorted; an error when none match."""
    files = sorted(fsspec.open_files(spec.path, "rb"), key=lambda f: f.path)
    if not files:
        raise SourceError(f"source {spec.name!r} ({spec.format}) matched no files at {spec.path!r}; check the path "
                          "in params.yaml (data.sources) or create the data first.")
    return files


@contextlib.contextmanager
def opened(spec: SourceSpec, handle: fsspec.core.OpenFile) -> Iterator[Any]:
    """One source file, open; a file that cannot be opened (a folder, no permission) is a SourceError naming it."""
    try:
        stream = handle.open()
    except OSError as error:
        raise SourceError(f"source {spec.name!r}: cannot read {handle.path} ({type(error).__name__}: "
                          f"{error.strerror or error}); fix its permissions or path in params.yaml.") from None
    with stream:
        yield stream


def require_records(spec: SourceSpec, handle: fsspec.core.OpenFile, count: int) -> None:
    """An empty source file is an error, not zero records: a truncated download would otherwise pass unseen."""
    if count == 0:
        raise SourceError(f"source {spec.name!r}: {handle.path} holds no records; replace the file or remove it "
                          "from the source path in params.yaml.")


def bounded_lines(stream: Any, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) for every non-blank line of a binary stream; the line is None when it is longer than
    ``limit`` bytes, which is then skipped a megabyte at a time instead of being read whole."""
    number = 0
    while line := stream.readline(limit + 1):
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            yield number, None
        elif line.strip():
            yield number, line


LineParser = Callable[[fsspec.core.OpenFile, int, int, bytes], RawRecord]


def jsonl_records(spec: SourceSpec, parse: LineParser) -> Iterator[RawRecord]:
    """Every record of a JSONL source, one per non-blank line: ``parse(file, position, line number, line)``, or a
    ``record_too_large`` record for a line over ``max_file_bytes``. An empty file is an error naming it."""
    position = 0
    for handle in expand(spec):
        start = position
        with opened(spec, handle) as stream:
            for number, line in bounded_lines(stream, spec.max_file_bytes):
                if line is None:
                    key = f"{posixpath.basename(handle.path)}:{number}"
                    yield RawRecord(source=spec.name, position=position, key=key, problem="record_too_large",
                                    detail=f"{key} is longer than max_file_bytes={spec.max_file_bytes:,}")
                else:
                    yield parse(handle, position, number, line)
                position += 1
        require_records(spec, handle, position - start)


def _inside(root: str, name: str) -> str | None:
    """``root/name`` when it stays inside ``root`` (for local files after resolving links); None otherwise."""
    if not name or name.startswith("/") or "\0" in name:
        return None
    protocol, _, rest = root.rpartition("://")
    if protocol and protocol != "file":
        path = posixpath.normpath(posixpath.join(rest, name))
        base = posixpath.normpath(rest)
        return f"{protocol}://{path}" if path.startswith(base.rstrip("/") + "/") else None
    base = os.path.realpath(rest)
    path = os.path.realpath(os.path.join(base, name))
    return path if path.startswith(base.rstrip(os.sep) + os.sep) else None


def read_image_file(spec: SourceSpec, root: str, name: str) -> tuple[bytes | None, str | None, str]:
    """(bytes, None, "") of the image file ``name`` under ``root``, or (None, reason, detail): a path leaving its
    root (``..``, an absolute path, a link pointing out), a missing or unreadable file, or one over the size limit.
    The detail names the path, never the file's content."""
    url = _inside(root, name)
    if url is None:
        return None, "path_outside_root", f"{name!r} resolves outside image_root {root}"
    try:
        fs, path = fsspec.core.url_to_fs(url)
        if fs.isdir(path):
            return None, "unreadable_image", f"{name} is a folder, not an image file"
        size = fs.size(path)
        if size > spec.max_file_bytes:
            return None, "file_too_large", f"{name} has {size:,} bytes > max_file_bytes={spec.max_file_bytes:,}"
        with fs.open(path, "rb") as handle:
            return handle.read(), None, ""
    except FileNotFoundError:
        return None, "missing_image", f"{url} does not exist"
    except OSError as error:
        return None, "unreadable_image", f"{name}: {type(error).__name__}: {error.strerror or 'unreadable'}"


def decode_text(payload: bytes) -> tuple[str | None, str | None]:
    """(text, None) for valid UTF-8, (None, "invalid_utf8") otherwise."""
    try:
        return payload.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, "invalid_utf8"


def parse_json(payload: bytes) -> tuple[Any, str | None, str]:
    """(value, problem, detail): problem is "invalid_utf8" or "malformed_json" when the bytes do not parse."""
    text, problem = decode_text(payload)
    if text is None:
        return None, problem, "bytes are not UTF-8"
    try:
        return json.loads(text), None, ""
    except json.JSONDecodeError as error:
        return None, "malformed_json", str(error)
    except RecursionError:
        return None, "malformed_json", "nested too deeply to parse"


def parse_json_object(payload: bytes) -> tuple[dict | None, str | None, str]:
    """One JSONL line as an object, or (None, problem, detail) when it is not one."""
    value, problem, detail = parse_json(payload)
    if problem is None and not isinstance(value, dict):
        return None, "malformed_json", "line is not an object"
    return value, problem, detail


def read_json_file(spec: SourceSpec, handle: fsspec.core.OpenFile, kind: type, expectation: str) -> Any:
    """A whole JSON file of top-level type ``kind``; anything else makes the source unreadable."""
    with opened(spec, handle) as stream:
        value, problem, detail = parse_json(stream.read())
    if problem is not None or not isinstance(value, kind):
        raise SourceError(f"source {spec.name!r}: {handle.path} is not {expectation} "
                          f"({detail or 'wrong top-level type'}); fix or replace the file.")
    return value


def normalise_conversation(turns: Any) -> tuple[list[dict[str, str]] | None, str]:
    """LLaVA/ShareGPT turns ({from, value}) as [{role, content}]; (None, why) when the layout is wrong."""
    if not isinstance(turns, list) or not turns:
        return None, "no 'conversations' list"
    out = []
    for index, turn in enumerate(turns):
        if not isinstance(turn, dict) or turn.get("from") not in ROLE_NAMES or not isinstance(turn.get("value"), str):
            return None, f"turn {index} is not {{'from': human|gpt, 'value': str}}"
        out.append({"role": ROLE_NAMES[turn["from"]], "content": turn["value"]})
    return out, ""


def captioning_conversation(caption: str) -> list[dict[str, str]]:
    """How a caption pair feeds understanding: the paper's captioning prompt, answered by the caption."""
    return [{"role": "User", "content": f"{IMAGE_TAG}\nGenerate the caption of this picture."},
            {"role": "Assistant", "content": caption}]


def records_from(spec: SourceSpec, reader: Iterator[RawRecord]) -> Iterator[RawRecord]:
    """Adapt caption records to the data type the source feeds (captions -> captioning conversations)."""
    for record in reader:
        if spec.feeds == "und" and record.conversation is None and record.caption is not None:
            record.conversation = captioning_conversation(record.caption)
        yield record
