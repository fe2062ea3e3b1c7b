"""Local spools for events written by short-lived processes that must never wait for the hub
(the statusline's official limits, the hook's calls): they append one JSON line to their
spool file; the producer publishes every spool in order and then removes what it sent.

Writers append with O_APPEND, one ``write`` per line, under a shared ``flock``. The drainer
renames the file aside (new appends create a fresh file), takes the exclusive lock on the
renamed file (so a writer that opened it before the rename has finished; one that locks
later sees the path no longer names its file and reopens), publishes every line in order and
deletes the file only once the hub acknowledged them all. A crash in between publishes the
lines again: the Nats-Msg-Id and the processor's newer-wins fold absorb the repeat.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from usagectl.projections.events import Event, Hook, Limit, decode, encode, kind_of, subject

if TYPE_CHECKING:
    import asyncio

    from nats.js import JetStreamContext

SPOOL_DIR = "spool"
LIMITS = "limits.jsonl"
HOOKS = "hooks.jsonl"
SPOOLS = (LIMITS, HOOKS)  # drained in this order, each file in the order written
ASIDE = ".draining"
LOCK_TRIES = 20  # x 2.5 ms: a statusline gives up on spooling long before it could hang
PUBLISH_TIMEOUT_S = 5.0
DRAIN_EVERY_S = 1.0


def spool_path(home: Path, name: str = LIMITS) -> Path:
    return home / SPOOL_DIR / name


def _lock_shared(fd: int, tries: int) -> bool:
    for _ in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(0.0025)
    return False


def _recent(fd: int, line: bytes) -> bool:
    """Whether the file's tail already holds this line's event: Claude Code calls the status
    line several times a second, mostly with the same figures."""
    size = os.fstat(fd).st_size
    tail = os.pread(fd, 8192, max(size - 8192, 0))
    return line in tail


def append(
    path: Path, event: Event, *, key: bytes | None = None, lock_tries: int = LOCK_TRIES
) -> bool:
    """Append one event as one line; False if the spool is busy or the event is already in its
    tail (``key`` is the bytes that identify it there). Never raises for a busy spool."""
    line = encode(event) + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if not _lock_shared(fd, lock_tries):
                return False
            if os.fstat(fd).st_ino != _inode(path):
                continue  # renamed aside while we waited: append to the fresh file
            if key is not None and _recent(fd, key):
                return False
            os.write(fd, line)
            return True
        finally:
            os.close(fd)
    return False


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _set_aside(path: Path) -> list[Path]:
    """Files to publish, oldest first: any a crashed drain left, then the live spool."""
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > 0:
            os.replace(path, path.with_name(f"{path.name}.{time.time_ns():020d}{ASIDE}"))
    return sorted(path.parent.glob(f"{path.name}.*{ASIDE}"))


def _read_settled(aside: Path) -> list[bytes]:
    with aside.open("rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # every writer that had it open is done
        return f.read().splitlines()


class SpoolNotSent(Exception):
    """The hub did not take the spooled events; they stay spooled for the next drain."""

    user_facing = True


def pending(home: Path) -> bool:
    return any(_pending(spool_path(home, name)) for name in SPOOLS)


def _pending(path: Path) -> bool:
    try:
        if path.stat().st_size > 0:
            return True
    except FileNotFoundError:
        pass
    return path.parent.is_dir() and any(path.parent.glob(f"{path.name}.*{ASIDE}"))


async def drain(js: JetStreamContext, prefix: str, home: Path) -> int:
    """Publish every spooled event in order; returns how many were acknowledged.

    Lines no version of us can read are dropped (there is nothing to retry); a publish that
    fails raises SpoolNotSent and leaves the file for the next drain.
    """
    sent = 0
    for name in SPOOLS:
        path = spool_path(home, name)
        if _pending(path):
            sent += await _drain_file(js, prefix, path)
    return sent


async def _drain_file(js: JetStreamContext, prefix: str, path: Path) -> int:
    # Here, not at the top: the statusline and the hook append without paying for asyncio or
    # the client.
    import asyncio

    import nats.errors

    sent = 0
    for aside in await asyncio.to_thread(_set_aside, path):
        for raw in await asyncio.to_thread(_read_settled, aside):
            try:
                event = decode(raw)
            except msgspec.DecodeError:
                continue
            if not isinstance(event, Limit | Hook):
                continue
            try:
                await js.publish(
                    subject(prefix, kind_of(event), event.machine),
                    raw,
                    headers={"Nats-Msg-Id": event.event_id},
                    timeout=PUBLISH_TIMEOUT_S,
                )
            except (TimeoutError, nats.errors.Error) as err:
                raise SpoolNotSent(f"the hub did not acknowledge spooled {event.event_id}") from err
            sent += 1
        aside.unlink()
    return sent


async def drain_forever(js: JetStreamContext, prefix: str, home: Path, stop: asyncio.Event) -> None:
    """Drain whenever a spool holds something, until ``stop``; a hub that is away now is
    tried again next time, since the statusline and the hooks keep spooling meanwhile."""
    import asyncio

    while not stop.is_set():
        with contextlib.suppress(SpoolNotSent, OSError):
            await drain(js, prefix, home)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), DRAIN_EVERY_S)
