"""Incremental reading of a growing JSONL file by byte offset.

A partial last line waits for its newline; a complete one (a whole JSON object) is read
without it when the caller says the file is quiet (``tail``), and the newline that may follow
later is then skipped; a file that shrank, was replaced (new inode) or was rewritten under the
same inode (identity.py) is read again from the start; a file that vanished mid-read is simply
done.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import msgspec

from .checkpoints import FileState
from .identity import rewritten

CHUNK_BYTES = 4 << 20


@dataclass
class Chunk:
    """Complete lines read from ``start``; ``end`` is the offset just past the last line read
    (past its newline, or past a quiet unterminated last line)."""

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


def read_chunks(
    path: str, start: int, chunk_bytes: int = CHUNK_BYTES, *, tail: bool = False
) -> Iterator[Chunk]:
    """Complete lines from ``start`` on, a chunk at a time (bounded memory on huge files).

    With ``tail``, an unterminated last line that parses as a whole JSON object is a line too:
    Claude Code may never write its newline. Its offset and bytes are those it will have once
    the newline comes, so it keeps one event id.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in finally; the generator may pause
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        offset = start + _closed_tail_newline(f, start)
        f.seek(offset)
        carry = b""
        while True:
            data = f.read(chunk_bytes)
            if not data:
                if tail and _whole_object(carry):
                    yield Chunk([(offset, carry)], offset + len(carry))
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


def _closed_tail_newline(f: BinaryIO, start: int) -> int:
    """1 when ``start`` follows a last line read without its newline and that newline is the
    next byte: the line was already counted, its late newline is no blank line."""
    if start == 0:
        return 0
    f.seek(start - 1)
    pair = f.read(2)
    return 1 if len(pair) == 2 and pair[0:1] != b"\n" and pair[1:2] == b"\n" else 0


def _whole_object(data: bytes) -> bool:
    if not data.strip().startswith(b"{"):
        return False
    try:
        msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return False
    return True
