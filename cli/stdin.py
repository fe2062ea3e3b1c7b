"""Reading what Claude Code writes on a command's stdin, without ever hanging on it."""

from __future__ import annotations

import os
import select
import time

INPUT_WAIT_S = 2.0  # Claude Code writes its JSON at once; never wait on a stdin left open
MAX_INPUT = 1 << 20


def read_input(fd: int = 0, wait_s: float = INPUT_WAIT_S, max_bytes: int = MAX_INPUT) -> bytes:
    """Everything on stdin up to EOF, or what arrived before the deadline (or the cap)."""
    try:
        if os.isatty(fd):
            return b""
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + wait_s
        while size < max_bytes:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except (OSError, ValueError):
        return b""
