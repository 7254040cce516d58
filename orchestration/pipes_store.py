"""Dagster Pipes messages through a folder that both ends reach: an object-store URL (any scheme Composer's object
stores take: s3://, gs://, oci://, ...) or a local directory. Several nodes share no disk with the Dagster
process, so rank 0 on node 0 writes its messages there in numbered chunks (``1.json``, ``2.json``, ...) and Dagster
reads them back in order, the protocol of Dagster's blob-store readers and writers, over Composer's object stores
instead of one vendor's client."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

from composer.utils import maybe_create_object_store_from_uri, parse_uri
from dagster import PipesBlobStoreMessageReader
from dagster_pipes import (
    PipesBlobStoreMessageWriter,
    PipesBlobStoreMessageWriterChannel,
    PipesDefaultMessageWriter,
    PipesParams,
)

STORE_KEY = "store"          # the chunk folder of one session
INTERVAL_KEY = "interval"    # seconds between the writer's uploads


class ChunkFolder:
    """The numbered message chunks of one Pipes session under ``url``; the object store is made once."""

    def __init__(self, url: str):
        backend, _, path = parse_uri(url)
        self.url = url
        self.path = path.rstrip("/") if backend else url.rstrip("/")
        self.store = maybe_create_object_store_from_uri(url) if backend else None

    def write(self, index: int, text: str) -> None:
        name = f"{self.path}/{index}.json"
        if self.store is None:
            Path(self.path).mkdir(parents=True, exist_ok=True)
            staged = Path(f"{name}.part")
            staged.write_text(text, encoding="utf-8")
            os.replace(staged, name)   # a reader never sees half a chunk
            return
        with tempfile.TemporaryDirectory() as tmp:
            staged = Path(tmp) / "chunk.json"
            staged.write_text(text, encoding="utf-8")
            self.store.upload_object(name, str(staged))

    def read(self, index: int) -> str | None:
        """Chunk ``index``, or None while it has not been written."""
        name = f"{self.path}/{index}.json"
        if self.store is None:
            return Path(name).read_text(encoding="utf-8") if Path(name).is_file() else None
        with tempfile.TemporaryDirectory() as tmp:
            staged = Path(tmp) / "chunk.json"
            try:
                self.store.download_object(name, str(staged))
            except FileNotFoundError:
                return None
            return staged.read_text(encoding="utf-8")


class PipesStoreMessageReader(PipesBlobStoreMessageReader):
    """Dagster's side: a new chunk folder under ``root`` per session, polled every ``interval`` seconds."""

    def __init__(self, root: str, interval: float = 5.0):
        super().__init__(interval=interval)
        self.root = root.rstrip("/")
        self.folder: ChunkFolder | None = None   # the session's, from get_params (which comes before any read)

    @contextmanager
    def get_params(self) -> Iterator[PipesParams]:
        self.folder = ChunkFolder(f"{self.root}/{uuid.uuid4().hex}")
        yield {STORE_KEY: self.folder.url, INTERVAL_KEY: self.interval}

    def messages_are_readable(self, params: PipesParams) -> bool:
        return True

    def download_messages_chunk(self, index: int, params: PipesParams) -> str | None:
        return self.folder.read(index)

    def no_messages_debug_text(self) -> str:
        return (f"Messages are read from numbered chunks under {self.root}; the external process must reach it and "
                "write with orchestration.pipes_store.PipesStoreMessageWriter.")


class _ChunkChannel(PipesBlobStoreMessageWriterChannel):
    def __init__(self, folder: ChunkFolder, interval: float):
        super().__init__(interval=interval)
        self.folder = folder

    def upload_messages_chunk(self, payload: StringIO, index: int) -> None:
        self.folder.write(index, payload.read())


class PipesStoreMessageWriter(PipesBlobStoreMessageWriter):
    """The external process's side: chunks into the folder the reader named; when the reader named none (a
    subprocess or pod client), Dagster's default writer (a file or stdout)."""

    @contextmanager
    def open(self, params: PipesParams) -> Iterator:
        if STORE_KEY not in params:
            with PipesDefaultMessageWriter().open(params) as channel:
                yield channel
            return
        with super().open(params) as channel:
            yield channel

    def make_channel(self, params: PipesParams) -> _ChunkChannel:
        return _ChunkChannel(ChunkFolder(params[STORE_KEY]), float(params.get(INTERVAL_KEY, self.interval)))
