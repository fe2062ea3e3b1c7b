"""Who may run here: one producer and one processor per data directory, across processes."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


class Busy(Exception):
    """Another usagectl process already holds this role for the data directory."""

    user_facing = True


@contextlib.contextmanager
def exclusive(home: Path, role: str) -> Iterator[None]:
    """Hold ``role`` (producer: it would double-count rejected lines and republish; processor:
    two writers would interleave their cursors) for the duration, or raise Busy at once."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / f"{role}.lock").open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise Busy(f"another usagectl {role} is running on {home}") from err
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
