"""Where shard sets live and how readers get them.

A shard set (one MDS folder: ``index.json`` and its shard files) lives in a local folder or behind any URL that
Streaming reads (``s3://``, ``gs://``, ``oci://``, ``azure://``, ``hf://``, ...; S3-compatible stores take their
endpoint from ``S3_ENDPOINT_URL``). Every reader on a node copies it into one local cache folder named by the
content of its index, so all mixtures of all stages share one copy, and a changed set never meets a stale cache.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tempfile
from pathlib import Path

from streaming.base.storage.download import CloudDownloader
from streaming.base.storage.upload import CloudUploader
from tqdm import tqdm

INDEX = "index.json"


class ShardStoreError(FileNotFoundError):
    """A shard set is not where the settings say it is."""


def is_url(location: str | Path) -> bool:
    """Whether ``location`` names an object store (``scheme://...``) rather than a local folder."""
    return "://" in str(location)


def join(location: str | Path, *parts: str) -> str:
    """``location``/``parts``: a URL joined with ``/``, a local path by the platform's rules."""
    if is_url(location):
        return posixpath.join(str(location).rstrip("/"), *parts)
    return str(Path(location, *parts))


def read_index(location: str | Path) -> bytes:
    """The bytes of a shard set's ``index.json``; raises ShardStoreError naming the location when it has none."""
    if not is_url(location):
        path = Path(location) / INDEX
        if not path.is_file():
            raise ShardStoreError(f"{location} has no MDS {INDEX}")
        return path.read_bytes()
    with tempfile.TemporaryDirectory() as scratch:
        local = Path(scratch) / INDEX
        try:
            CloudDownloader.direct_download(join(location, INDEX), str(local))
        except Exception as error:  # each store reports a missing object its own way (ClientError, NotFound, ...)
            raise ShardStoreError(f"{location} has no MDS {INDEX} that can be read ({error})") from error
        return local.read_bytes()


def content_id(index: bytes) -> str:
    """A short id of a shard set's content (its index, which holds every shard's size and hashes)."""
    return hashlib.sha256(index).hexdigest()[:16]


def index_digest(location: str | Path) -> str:
    """The content id of the shard set at ``location``."""
    return content_id(read_index(location))


def sample_count(index: bytes) -> int:
    return sum(shard["samples"] for shard in json.loads(index)["shards"])


def shared_cache(cache_root: str | Path, location: str | Path, index: bytes) -> Path:
    """The node-local cache folder of the shard set at ``location`` with this ``index``: one per set, shared by
    every mixture that reads it. A cached index that is not this one (a damaged copy) is removed, so that
    Streaming fetches it again; cached shard files are checked by the reader that uses them
    (``data.streaming.VerifiedStreamingDataset``)."""
    name = posixpath.basename(str(location).rstrip("/")) if is_url(location) else Path(location).name
    folder = Path(cache_root) / f"{name}-{content_id(index)}"
    cached = folder / INDEX
    if cached.is_file() and cached.read_bytes() != index:
        cached.unlink()
    return folder


def shard_sets(root: Path) -> list[Path]:
    """Every MDS folder under ``root`` (those holding an ``index.json``), in path order; the partitions of a merged
    set (``merge_index``: an index in a folder under another) belong to that set."""
    folders = sorted(path.parent for path in root.rglob(INDEX))
    return [f for f in folders if not any(other != f and f.is_relative_to(other) for other in folders)]


def upload(root: str | Path, remote: str, progress: bool = True) -> list[str]:
    """Copy every shard set under the local folder ``root`` to the same relative place under ``remote``: the
    files each index reads (compressed where there are both), then the index itself, last, so that a reader
    never finds an index whose shards are not there yet. Returns the URLs of the sets uploaded."""
    root = Path(root)
    uploaded = []
    for folder in shard_sets(root):
        target = join(remote, *folder.relative_to(root).parts)
        uploader = CloudUploader.get(out=(str(folder), target), keep_local=True, exist_ok=True)
        shards = json.loads((folder / INDEX).read_text())["shards"]
        names = [(shard["zip_data"] or shard["raw_data"])["basename"] for shard in shards]
        for name in tqdm([*names, INDEX], desc=f"uploading {target}", disable=not progress):
            uploader.upload_file(name)
        uploaded.append(target)
    return uploaded
