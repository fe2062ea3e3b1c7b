"""`usagectl watch`: snapshot at S plus the stream from S+1, and the screen a person sees."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import USAGECTL, Env, NatsServer, make_env, system_tool
from nats.aio.msg import Msg
from usagectl.processors.bus import BusSettings, connect, ensure_streams, stream_last_seq
from usagectl.processors.live_source import follow_stream, load_snapshot
from usagectl.processors.processor import Processor
from usagectl.projections import live
from usagectl.projections.blocks import session_ms
from usagectl.projections.events import Limit, Source, Usage, encode, subject

FIVE_H = session_ms(5)


def usage(n: int, at: datetime, machine: str = "m1", project: str = "/p/alpha") -> Usage:
    return Usage(
        event_id=f"e{n}", ts=at, machine=machine, account="default", project=project,
        project_dir=project.replace("/", "-"), session_id=f"s-{project[-5:]}",
        source=Source(f"/r/projects/x/{n}.jsonl", 0), message_id=f"msg_{n}",
        request_id=f"req_{n}", model="claude-sonnet-4-5-20250929", input=10, output=n,
    )  # fmt: skip


async def test_snapshot_then_stream_misses_nothing_and_counts_nothing_twice(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    bus = BusSettings(url=nats_server.url)
    nc = await connect(bus)
    js = nc.jetstream()
    await ensure_streams(js, bus)
    db = tmp_path / "usage.db"
    stop = asyncio.Event()
    processor = Processor(js, bus, db)
    task = asyncio.create_task(processor.run(stop))
    now = datetime.now(UTC)
    events = [usage(n, now - timedelta(minutes=60 - n // 10)) for n in range(1, 301)]

    async def publish() -> None:
        for e in events:
            await js.publish(subject(bus.prefix, "usage", e.machine), encode(e),
                             headers={"Nats-Msg-Id": e.event_id})  # fmt: skip
            await asyncio.sleep(0.002)

    publisher = asyncio.create_task(publish())
    await asyncio.sleep(0.25)  # the snapshot is taken while events keep arriving
    await processor.wait_until(1)
    now_ms = int(now.timestamp() * 1000)
    snap = await asyncio.to_thread(load_snapshot, db, "default", now_ms, FIVE_H)
    assert 0 < snap.seq < len(events), "the snapshot must fall mid-stream"
    state = live.snapshot("default", snap.window_start_ms, snap.seq, snap.entries)
    seen: list[int] = []

    async def on_message(msg: Msg) -> None:
        from usagectl.cli.watch_loop import fold_message

        seen.append(msg.metadata.sequence.stream)
        fold_message(state, msg)

    sub = await follow_stream(js, bus, snap.seq, on_message)
    await publisher
    last = await stream_last_seq(js, bus)
    for _ in range(200):
        if state.seq >= last:
            break
        await asyncio.sleep(0.02)
    await sub.unsubscribe()
    stop.set()
    await task
    await nc.close()
    assert seen == list(range(snap.seq + 1, last + 1))
    v = live.view(state, now_ms + 1000, live.Options(length_ms=FIVE_H))
    assert v.block is not None
    assert v.block.output == sum(e.output for e in events)
    assert v.block.entries == len(events)


def test_view_splits_machines_and_projects_and_warns() -> None:
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    state = live.snapshot("default", 0, 0, [])
    for n in range(1, 21):
        machine, project = ("m1", "/p/alpha") if n % 2 else ("m2", "/p/beta")
        live.apply_usage(state, usage(n * 1000, now - timedelta(seconds=30 * (20 - n)), machine,
                                      project),
                         n)  # fmt: skip
    live.apply_limit(
        state,
        Limit(
            event_id="l1",
            ts=now,
            machine="m1",
            account="default",
            session_id="s",
            five_hour_pct=91.0,
            seven_day_pct=40.0,
        ),
    )
    v = live.view(state, now_ms, live.Options(length_ms=FIVE_H, token_limit="50000"))
    assert {m.name for m in v.machines} == {"m1", "m2"}
    assert {p.name for p in v.projects} == {"/p/alpha", "/p/beta"}
    assert v.block is not None
    assert sum(m.tokens for m in v.machines) == v.block.total_tokens
    assert any(w.startswith("LIMIT EXCEEDED") for w in v.warnings)
    assert any("official 5-hour usage at 91%" in w for w in v.warnings)
    assert any(w == "new machine: m2" for w in v.warnings)
    assert v.official["seven_day"].used_pct == 40.0


ASSISTANT = (
    '{{"type":"assistant","timestamp":"{ts}","sessionId":"{sess}","cwd":"{cwd}","message":'
    '{{"id":"msg_{n}","model":"claude-sonnet-4-5-20250929","usage":{{"input_tokens":50,'
    '"output_tokens":{out}}}}},"requestId":"req_{n}"}}\n'
)


def _append(env: Env, project: str, n: int, out: int) -> None:
    folder = env.claude / "projects" / f"-work-{project}"
    folder.mkdir(parents=True, exist_ok=True)
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with (folder / f"{project}-session.jsonl").open("a") as f:
        f.write(ASSISTANT.format(ts=ts, sess=f"{project}-session", cwd=f"/work/{project}", n=n,
                                 out=out))  # fmt: skip


def _screen(tmux: list[str]) -> str:
    return subprocess.run([*tmux, "capture-pane", "-p", "-t", "watch"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip


def _until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def test_watch_in_tmux_shows_both_machines_projects_and_the_limit_warning(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    # A tmux server of this test's own: nothing else's sessions or settings reach it.
    tmux = [system_tool("tmux", package="tmux"), "-S", str(tmp_path / "tmux.sock")]
    laptop = make_env(tmp_path / "laptop", nats_server.url)
    laptop.machine = "laptop"
    desktop = make_env(tmp_path / "desktop", nats_server.url)
    desktop.machine = "desktop"
    _append(laptop, "alpha", 1, 100)
    _append(desktop, "beta", 2, 100)
    ups = [laptop.popen("up"), desktop.popen("up")]
    env_args = [f"{k}={v}" for k, v in laptop.vars().items() if k.startswith(("USAGECTL", "HOME",
                "CLAUDE", "TZ"))]  # fmt: skip
    cmd = ["env", "-u", "COLUMNS", "-u", "LINES", *env_args, USAGECTL, "watch",
           "--token-limit", "20000", "--refresh", "0.5"]  # fmt: skip
    subprocess.run([*tmux, "new-session", "-d", "-s", "watch", "-x", "120", "-y", "50",
                    " ".join(cmd)], check=True)  # fmt: skip
    try:
        _until(
            lambda: "alpha" in _screen(tmux) and "beta" in _screen(tmux),
            120,
            "both machines' projects on the screen",
        )
        _append(laptop, "alpha", 3, 12_000)
        _append(desktop, "beta", 4, 9_000)
        _until(lambda: "21,400" in _screen(tmux), 120, "the new total 21,400 on the screen")
        _until(lambda: "LIMIT EXCEEDED" in _screen(tmux), 120, "the limit warning")
        screen = _screen(tmux)
        assert "laptop" in screen and "desktop" in screen

        def active_tokens() -> int | None:
            # The read model follows the stream a moment behind the live view.
            proc = laptop.run("blocks", "--active", "--json", check=False)
            if proc.returncode != 0:  # no read model yet: the processor is still starting
                return None
            blocks = json.loads(proc.stdout)["blocks"]
            return blocks[0]["totalTokens"] if blocks else None

        _until(lambda: active_tokens() == 21_400, 120, "the active block at 21,400 tokens")
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)
        for proc in ups:
            proc.terminate()
            proc.wait(timeout=20)
