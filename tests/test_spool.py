"""The statusline's spool: concurrent appends while the producer drains lose nothing, keep each
writer's order, and a drain that crashed before removing its file publishes it once more."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import NatsServer
from nats.js import JetStreamContext
from usagectl.processors.bus import BusSettings, connect, ensure_streams
from usagectl.producers.spool import append, drain, pending, spool_path
from usagectl.projections.events import Limit, decode

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def event(writer: int, n: int) -> Limit:
    return Limit(event_id=f"w{writer}-{n:04d}", ts=T0 + timedelta(seconds=n), machine=f"m{writer}",
                 account="a", session_id="s", five_hour_pct=float(n))  # fmt: skip


class Drains:
    """How many drains published something; a writer waits for the next one (so drains and
    writes interleave by construction, not by timing)."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = threading.Condition()

    def one_more(self) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait_for_one_after(self, seen: int) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.count > seen, timeout=60):
                raise AssertionError("no drain published the spooled events within 60 s")


async def stored_ids(js: JetStreamContext, bus: BusSettings) -> list[str]:
    sub = await js.subscribe(f"{bus.prefix}.v1.limit.>", ordered_consumer=True)
    info = await js.stream_info(bus.stream)
    ids = []
    for _ in range(info.state.messages):
        msg = await sub.next_msg(timeout=5)
        got = decode(msg.data)
        assert isinstance(got, Limit)
        ids.append(got.event_id)
    await sub.unsubscribe()
    return ids


async def test_concurrent_appends_while_draining_lose_nothing(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    bus = BusSettings(url=nats_server.url)
    nc = await connect(bus)
    try:
        js = nc.jetstream()
        await ensure_streams(js, bus)
        writers, each, chunk = 4, 150, 15
        done = threading.Event()
        drains = Drains()

        def write(w: int) -> None:
            seen = drains.count
            for n in range(each):
                while not append(spool_path(tmp_path), event(w, n)):
                    pass  # busy for a moment: the statusline would drop it, the test retries
                if n % chunk == chunk - 1:  # a drain takes some before this writer goes on
                    drains.wait_for_one_after(seen)
                    seen = drains.count

        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()

        async def drain_while_writing() -> int:
            sent = 0
            while not done.is_set():
                got = await drain(js, bus.prefix, tmp_path)
                sent += got
                if got:
                    drains.one_more()
                await asyncio.sleep(0.001)
            return sent

        def join_writers() -> None:
            for t in threads:
                t.join()

        draining = asyncio.create_task(drain_while_writing())
        await asyncio.to_thread(join_writers)
        done.set()
        sent = await draining + await drain(js, bus.prefix, tmp_path)
        assert sent == writers * each and not pending(tmp_path)
        assert drains.count >= each // chunk, "the drains did not overlap the writes"
        ids = await stored_ids(js, bus)
        assert sorted(ids) == sorted(f"w{w}-{n:04d}" for w in range(writers) for n in range(each))
        for w in range(writers):  # each writer's events arrive in the order written
            mine = [i for i in ids if i.startswith(f"w{w}-")]
            assert mine == sorted(mine)

        # A drain that died after publishing but before removing its file: sent again, stored once.
        path = spool_path(tmp_path)
        append(path, event(9, 1))
        await drain(js, bus.prefix, tmp_path)
        append(path, event(9, 1))
        path.rename(path.with_name(f"{path.name}.00000000000000000001.draining"))
        assert await drain(js, bus.prefix, tmp_path) == 1
        assert (await stored_ids(js, bus)).count("w9-0001") == 1
    finally:
        await nc.close()


def test_the_same_event_is_not_spooled_twice_in_a_row(tmp_path: Path) -> None:
    path = spool_path(tmp_path)
    e = event(1, 1)
    assert append(path, e, key=e.event_id.encode())
    assert not append(path, e, key=e.event_id.encode())
    assert append(path, event(1, 2), key=b"w1-0002")
    assert len(path.read_bytes().splitlines()) == 2
