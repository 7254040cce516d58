"""Turns what the library wrote (JSON reports, loss curves, sample grids) into Dagster metadata for the UI."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    DataVersion,
    JsonMetadataValue,
    MarkdownMetadataValue,
    MetadataValue,
    PathMetadataValue,
    TextMetadataValue,
    UrlMetadataValue,
)


def image(data: bytes, alt: str) -> MetadataValue:
    """A PNG shown inline in the asset's metadata (Markdown with a data URI)."""
    return MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(data).decode()})")


def table(rows: list[dict] | pd.DataFrame) -> MetadataValue:
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    return MetadataValue.md(frame.to_markdown(index=False, floatfmt=".4g") if not frame.empty else "(empty)")


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def content_digest(hashes: dict[str, str], fallback: list[Path]) -> str:
    """The outputs' content hashes as DVC recorded them; without DVC, a hash of the files themselves."""
    digest = hashlib.sha256()
    if hashes:
        for path, value in sorted(hashes.items()):
            digest.update(f"{path}:{value}\n".encode())
    else:
        for root in fallback:
            files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
            for file in files:
                if file.is_file():
                    digest.update(file.name.encode() + hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()[:16]


def data_version(hashes: dict[str, str], fallback: list[Path]) -> DataVersion:
    return DataVersion(content_digest(hashes, fallback))


PIPES_TYPES = {MarkdownMetadataValue: "md", PathMetadataValue: "path", TextMetadataValue: "text",
               JsonMetadataValue: "json", UrlMetadataValue: "url"}


def pipes_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata as a dagster-pipes process reports it: plain numbers as they are, each metadata value as its raw
    value and type (Dagster rebuilds the same values on its side)."""
    reported: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, MetadataValue):
            if type(value) not in PIPES_TYPES:
                raise TypeError(f"metadata {key!r} is a {type(value).__name__}, which pipes_metadata does not send; "
                                f"use one of {sorted(t.__name__ for t in PIPES_TYPES)}.")
            reported[key] = {"raw_value": value.value, "type": PIPES_TYPES[type(value)]}
        else:
            reported[key] = value
    return reported
