"""The facts stream is stored S2-compressed: a new stream is made so, and a stream an earlier
version made without compression is switched by the next `ensure_streams`, its messages kept."""

from __future__ import annotations

import asyncio

from conftest import NatsServer
from nats.js.api import StorageType, StoreCompression, StreamConfig
from usagectl.processors.bus import BusSettings, connect, ensure_streams, fact_subjects


def _compression(value: object) -> str:
    return str(getattr(value, "value", value))


async def _check(url: str) -> None:
    bus = BusSettings(url=url, prefix="s2test")
    nc = await connect(bus)
    try:
        js = nc.jetstream()
        # What a version before compression made: the same stream, stored plainly.
        await js.add_stream(
            StreamConfig(
                name=bus.stream, subjects=fact_subjects(bus.prefix), storage=StorageType.FILE
            )
        )
        await js.publish(f"{bus.prefix}.v1.usage.m1", b"{}")
        before = await js.stream_info(bus.stream)
        assert _compression(before.config.compression) in ("none", "None")
        await ensure_streams(js, bus)
        after = await js.stream_info(bus.stream)
        assert _compression(after.config.compression) == StoreCompression.S2.value
        assert after.state.messages == 1
        await js.delete_stream(bus.stream)
        await ensure_streams(js, bus)  # made new: compressed from the start
        made = await js.stream_info(bus.stream)
        assert _compression(made.config.compression) == StoreCompression.S2.value
    finally:
        await nc.close()


def test_the_facts_stream_is_compressed_new_or_old(nats_server: NatsServer) -> None:
    asyncio.run(_check(nats_server.url))
