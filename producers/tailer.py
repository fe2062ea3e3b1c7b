"""Incremental reading of a growing JSONL file by byte offset.

A partial last line waits for its newline; a file that shrank, was replaced (new inode) or was
rewritten under the same inode (identity.py) is read again from the start; a file that
vanished mid-read is simply done.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from .checkpoints import FileState
from .identity import rewritten

CHUNK_BYTES = 4 << 20


@dataclass
class Chunk:
    """Complete lines read from ``start``; ``end`` is the offset just past the last newline."""

    lines: list[tuple[int, bytes]]
    end: int


def plan_read(path: str, known: FileState | None) -> tuple[FileState, bool] | None:
    """Where to start reading, and whether the file was reset; None if nothing to read."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    state = known or FileState(path)
    reset = known is not None and (st.st_ino != known.inode or st.st_size < known.offset)
    if known is not None and not reset and st.st_mtime_ns != known.mtime_ns:
        reset = rewritten(path, known.offset, known.fingerprint)  # same inode, new bytes
    if reset or known is None:
        state = FileState(path, inode=st.st_ino)
    if st.st_size == state.offset and not reset and known is not None:
        return None
    state.size = st.st_size
    state.mtime_ns = st.st_mtime_ns
    return state, reset


def read_chunks(path: str, start: int, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Chunk]:
    """Complete lines from ``start`` on, a chunk at a time (bounded memory on huge files)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in finally; the generator may pause
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        f.seek(start)
        offset = start
        carry = b""
        while True:
            data = f.read(chunk_bytes)
            if not data:
                return
            data = carry + data
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            lines: list[tuple[int, bytes]] = []
            pos = 0
            while pos <= cut:
                nl = data.index(b"\n", pos)
                lines.append((offset + pos, data[pos:nl]))
                pos = nl + 1
            offset += cut + 1
            carry = data[cut + 1 :]
            yield Chunk(lines, offset)
    finally:
        f.close()
