"""Ordered chunked map over a process pool: the caller sees results in input order, one chunk at a time."""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def ordered_map(function: Callable[[list[T]], list[R]], items: Iterable[T], workers: int,
                chunk_size: int = 128) -> Iterator[list[R]]:
    """``function`` applied to consecutive chunks of ``items``; on ``workers`` processes when > 1.
    ``function`` must be a module-level function (it is pickled by name). Workers start from a fork server, not
    from a fork of the caller: a caller that has already run torch holds OpenMP and tokenizer threads, and a
    plain fork of it can deadlock in the child."""
    chunks = chunked(items, chunk_size)
    if workers <= 1:
        yield from map(function, chunks)
        return
    with multiprocessing.get_context("forkserver").Pool(workers) as pool:
        yield from pool.imap(function, chunks)
