"""Whether a transcript is still the file its checkpoint describes.

Path, inode and size are not enough: a file truncated and written again (same inode, larger
than before), or deleted and recreated (file systems reuse inodes), would be read on from the
old offset, mid-line, and its new lines before that offset never counted. So a checkpoint also
keeps a fingerprint of the file's first bytes and of the bytes just before its offset; when
either differs, the file is read again from the start (the processor's dedup keeps totals
exact: lines read twice are counted once).
"""

from __future__ import annotations

import hashlib
import os

HEAD_BYTES = 1024
TAIL_BYTES = 256


def fingerprint(path: str, offset: int) -> str:
    """The file's first bytes and the bytes just before ``offset``, hashed ("" if unreadable
    or shorter than ``offset``: then it cannot be the file read up to there)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return ""
    try:
        head = os.pread(fd, min(HEAD_BYTES, offset), 0)
        start = max(0, offset - TAIL_BYTES)
        tail = os.pread(fd, offset - start, start)
    except OSError:
        return ""
    finally:
        os.close(fd)
    if len(head) != min(HEAD_BYTES, offset) or len(tail) != offset - start:
        return ""
    h = hashlib.blake2b(digest_size=16)
    h.update(head)
    h.update(b"\0")
    h.update(tail)
    return h.hexdigest()


def rewritten(path: str, offset: int, known: str) -> bool:
    """Whether the bytes a checkpoint vouches for changed underneath it. A checkpoint written
    before fingerprints were kept (``known`` empty) is trusted, as it was then."""
    return bool(known) and fingerprint(path, offset) != known
