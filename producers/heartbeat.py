"""Heartbeats: a producer says it is alive, what it watches and how far behind it is.

They go to a stream that keeps only the latest per machine, so `watch` and `machines` can
tell a quiet machine from a producer that died.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

import nats.errors
from nats.js import JetStreamContext
from usagectl.projections.events import Heartbeat, encode, subject

from .producer import Producer

INTERVAL_S = 15.0


def _version() -> str:
    try:
        return version("usagectl")
    except PackageNotFoundError:
        return "unknown"


def heartbeat(producer: Producer, now: datetime) -> Heartbeat:
    files, _, _, lag = producer.checkpoints.totals()
    rejected = {
        reason: n
        for (reason, is_rejected), n in producer.checkpoints.reasons().items()
        if is_rejected
    }
    return Heartbeat(
        ts=now,
        machine=producer.machine,
        version=_version(),
        roots=tuple(str(r) for r in producer.roots),
        files=files,
        lag_bytes=lag,
        rejected=rejected,
        unreadable=dict(sorted(producer.unreadable.items())[:50]),
    )


async def beat_once(js: JetStreamContext, prefix: str, producer: Producer) -> Heartbeat:
    """One heartbeat (what `sync` leaves behind: when this machine last reported, and how)."""
    now = heartbeat(producer, datetime.now(UTC))
    with contextlib.suppress(TimeoutError, nats.errors.Error):
        await js.publish(subject(prefix, "heartbeat", producer.machine), encode(now), timeout=2)
    return now


async def beat(
    js: JetStreamContext,
    prefix: str,
    producer: Producer,
    stop: asyncio.Event,
    interval: float = INTERVAL_S,
) -> None:
    """Publish a heartbeat now and every ``interval`` seconds until ``stop``; a hub that does
    not answer just misses one (the next beat says the same, newer)."""
    target = subject(prefix, "heartbeat", producer.machine)
    while not stop.is_set():
        data = encode(heartbeat(producer, datetime.now(UTC)))
        with contextlib.suppress(TimeoutError, nats.errors.Error):
            await js.publish(target, data, timeout=2)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
