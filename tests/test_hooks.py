"""`usagectl hook` as Claude Code runs it: stdin JSON in, nothing out, exit 0 always; every event
spooled without its contents, published by `sync` (or `up`), counted once by `tools` and
`session`, whatever the hub was doing meanwhile."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import nats.js.errors
from conftest import USAGECTL, Env
from hookdata import PROMPT, SECRET, SESSION, payload, recording, send, spooled, transcript
from usagectl.processors.bus import BusSettings, connect
from usagectl.projections.events import Hook, decode

NAMES = [p["hook_event_name"] for p in recording()]


def stored_tool_use_ids(url: str) -> list[str]:
    """The tool_use_id of every hook event in the stream, in stream order."""

    async def read() -> list[str]:
        bus = BusSettings(url=url)
        nc = await connect(bus)
        try:
            js = nc.jetstream()
            sub = await js.subscribe(f"{bus.prefix}.v1.hook.>", ordered_consumer=True)
            out = []
            expected = await _hook_count(js, bus)
            for _ in range(expected):
                event = decode((await sub.next_msg(timeout=5)).data)
                assert isinstance(event, Hook) and event.tool_use_id is not None
                out.append(event.tool_use_id)
            await sub.unsubscribe()
            return out
        finally:
            await nc.close()

    return asyncio.run(read())


async def _hook_count(js: Any, bus: BusSettings) -> int:
    try:
        info = await js.stream_info(bus.stream, subjects_filter=f"{bus.prefix}.v1.hook.>")
    except nats.js.errors.NotFoundError:
        return 0  # `up` has not created the stream yet
    return sum((info.state.subjects or {}).values())


def hook_count(url: str) -> int:
    async def count() -> int:
        bus = BusSettings(url=url)
        nc = await connect(bus)
        try:
            return await _hook_count(nc.jetstream(), bus)
        finally:
            await nc.close()

    return asyncio.run(count())


def tools_by_name(env: Env, *args: str) -> dict[str, Any]:
    return {t["tool"]: t for t in env.json("tools", *args)["tools"]}


def session_row(env: Env, session: str = SESSION) -> dict[str, Any]:
    return next(s for s in env.json("session")["sessions"] if s["sessionId"] == session)


def check_reports(env: Env) -> None:
    tools = tools_by_name(env)
    assert set(tools) == {"Bash", "Read", "Edit", "Grep"}
    assert all(t["calls"] == 1 for t in tools.values())
    assert tools["Bash"]["p50DurationMs"] == 1200 and tools["Bash"]["failures"] == 0
    assert tools["Read"]["failures"] == 1 and tools["Read"]["failureRate"] == 1.0
    assert tools["Read"]["errorKinds"] == {"file": 1}
    assert tools["Grep"]["p95DurationMs"] == 30
    edit = tools["Edit"]["p50DurationMs"]  # no duration_ms: the time between Pre and Post
    assert edit is not None and 0 < edit < 10_000
    totals = env.json("tools")["totals"]
    assert (totals["calls"], totals["failures"], totals["failureRate"]) == (4, 1, 0.25)
    row = session_row(env)
    keys = ("prompts", "toolCalls", "toolFailures", "subagents", "compactions", "endReason")
    assert [row[k] for k in keys] == [2, 4, 1, 1, 1, "prompt_input_exit"]
    assert row["totalTokens"] == 30  # ccusage's keys as they were


def test_every_event_is_spooled_while_the_bus_is_down_then_synced_once(env: Env) -> None:
    transcript(env.claude)
    env.run("sync")
    env.extra["USAGECTL_NATS_URL"] = "nats://127.0.0.1:1"  # no hub there: the hook never asks
    for data in recording():
        send(USAGECTL, env.vars(), data, pause_s=0.01)
    lines = spooled(env.home)
    assert [e["name"] for e in lines] == NAMES  # in order, unknown names verbatim
    text = (env.home / "spool" / "hooks.jsonl").read_text()
    assert SECRET not in text and "please fix" not in text
    post = next(e for e in lines if e["name"] == "PostToolUse")
    assert post["payload"]["tool_input_bytes"] > 20 * len(SECRET)
    assert post["payload"]["tool_response_bytes"] > 50 * len(SECRET)
    assert post["duration_ms"] == 1200 and post["success"] is True
    assert post["project"] == "/work/hooked" and post["tool_use_id"] == "toolu_bash1"
    failure = next(e for e in lines if e["name"] == "PostToolUseFailure")
    assert failure["success"] is False and failure["payload"]["error_kind"] == "file"
    assert failure["payload"]["is_interrupt"] is False
    end = next(e for e in lines if e["name"] == "SessionEnd")
    assert end["payload"]["reason"] == "prompt_input_exit"
    future = next(e for e in lines if e["name"] == "TeammatesAssembled")
    assert future["payload"] == {"permission_mode": "default", "team_name": "blue",
                                 "roster_bytes": 3 * (len(SECRET) + 2) + 4, "size": 3}  # fmt: skip
    # Claude Code delivering the same calls again (a second settings file, a replay): the
    # spool or the hub or the read model keeps one of each.
    for data in recording()[-3:]:
        send(USAGECTL, env.vars(), data)
    del env.extra["USAGECTL_NATS_URL"]
    env.run("sync")
    assert not any((env.home / "spool").iterdir())
    assert hook_count(env.nats_url or "") == len(NAMES)
    check_reports(env)
    for data in recording():  # long after: the hub's duplicate window may have passed
        send(USAGECTL, env.vars(), data)
    env.run("sync")
    check_reports(env)
    table = env.run("session").stdout
    assert "Prompts" in table and "prompt_input_exit" in table
    people = env.run("tools").stdout
    assert "Bash" in people and "1.2 s" in people and "100.0%" in people
    env.run("replay")
    check_reports(env)


def logs(env: Env) -> str:
    processor = env.home / "processor.log"
    return env.log("up") + (processor.read_text() if processor.exists() else "")


def test_up_publishes_hooks_as_they_arrive(env: Env) -> None:
    transcript(env.claude)
    proc = env.popen("up")
    try:
        deadline = time.monotonic() + 120
        while env.run("session", "--json", check=False).returncode != 0:
            assert time.monotonic() < deadline, env.log("up")
            time.sleep(0.1)
        for data in recording():
            send(USAGECTL, env.vars(), data, pause_s=0.01)
        deadline = time.monotonic() + 120
        while session_row(env)["endReason"] is None or session_row(env)["toolCalls"] < 4:
            assert time.monotonic() < deadline, f"hooks never arrived: {logs(env)}"
            time.sleep(0.1)
        check_reports(env)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0, logs(env)


def tool_calls(env: Env) -> int:
    proc = env.run("tools", "--json", check=False)
    return int(json.loads(proc.stdout)["totals"]["calls"]) if proc.returncode == 0 else 0


def test_concurrent_hooks_while_up_drains_are_stored_once_in_order(env: Env) -> None:
    proc = env.popen("up")
    writers, each = 4, 15
    try:

        def write(w: int) -> None:
            for n in range(each):
                data = payload("PreToolUse", tool_name="Bash", tool_use_id=f"w{w}-{n:03d}")
                send(USAGECTL, env.vars(), data)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        deadline = time.monotonic() + 120
        while hook_count(env.nats_url or "") < writers * each:
            assert time.monotonic() < deadline, f"hooks never arrived: {logs(env)}"
            time.sleep(0.1)
        # The read model follows the stream a moment later: stopping `up` before its processor
        # applied the last hook would leave the report one short.
        while tool_calls(env) < writers * each:
            assert time.monotonic() < deadline, f"hooks never reached the read model: {logs(env)}"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0, logs(env)
    ids = stored_tool_use_ids(env.nats_url or "")
    assert sorted(ids) == sorted(f"w{w}-{n:03d}" for w in range(writers) for n in range(each))
    for w in range(writers):  # each writer's calls arrive in the order Claude Code made them
        mine = [i for i in ids if i.startswith(f"w{w}-")]
        assert mine == sorted(mine)
    assert env.json("tools")["totals"]["calls"] == writers * each


def test_filters(env: Env) -> None:
    transcript(env.claude)
    for data in recording():
        send(USAGECTL, env.vars(), data)
    env.extra["USAGECTL_MACHINE"] = "laptop"
    for data in recording("other-session"):
        data["cwd"] = "/work/elsewhere"
        send(USAGECTL, env.vars(), data)
    env.run("sync")
    assert env.json("tools")["totals"]["calls"] == 8
    for args in (("--machine", "laptop"), ("--session", "other-session"),
                 ("--project", "elsewhere"), ("--project", "/work/elsewhere"),
                 ("--project", "-work-elsewhere")):  # fmt: skip
        assert env.json("tools", *args)["totals"]["calls"] == 4, args
    assert env.json("tools", "--machine", "nowhere")["tools"] == []
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert env.json("tools", "--since", today, "--until", today)["totals"]["calls"] == 8
    assert env.json("tools", "--until", "2020-01-01")["totals"]["calls"] == 0
    assert env.json("tools", "--since", "2099-01-01")["totals"]["calls"] == 0
    bad = env.run("tools", "--since", "yesterday", check=False)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1


def test_garbage_never_breaks_claude_code(env: Env, tmp_path: Path) -> None:
    for stdin in (
        b"", b"not json", b"[1, 2]", b'{"hook_event_name": 5}', b"\xff\xfe",
        b'{"session_id": null}', b"[" * 100_000, b'{"hook_event_name": "Stop"',
    ):  # fmt: skip
        send(USAGECTL, env.vars(), stdin)
    assert spooled(env.home) == []
    # A payload with invalid UTF-8 in a tool output still happened: it is kept, trimmed.
    raw = json.dumps(payload("PostToolUse", tool_name="Bash", tool_use_id="t", tool_response="x"))
    send(USAGECTL, env.vars(), raw.encode().replace(b'"x"', b'"\xff\xfe"'))
    [event] = spooled(env.home)
    assert event["payload"]["tool_response_bytes"] == 6
    # A home that cannot be written (a file in the way), and a full disk.
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    send(USAGECTL, env.vars() | {"USAGECTL_HOME": str(blocked / "home")}, payload("Stop"))
    full = tmp_path / "full-home"
    (full / "spool").mkdir(parents=True)
    (full / "spool" / "hooks.jsonl").symlink_to("/dev/full")
    send(USAGECTL, env.vars() | {"USAGECTL_HOME": str(full)}, payload("Stop"))


def test_an_open_stdin_never_hangs_it(env: Env) -> None:
    proc = subprocess.Popen([USAGECTL, "hook"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=env.vars())  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(payload("Stop")).encode())
        proc.stdin.flush()
        proc.wait(timeout=60)  # it exits while its stdin is still open
        out = proc.stdout.read()
    finally:
        proc.stdin.close()
        proc.stdout.close()
        proc.kill()
    assert (proc.returncode, out) == (0, b"")
    assert [e["name"] for e in spooled(env.home)] == ["Stop"]


def test_prompts_are_hashed_unless_the_user_opts_in(env: Env) -> None:
    data = payload("UserPromptSubmit", prompt=PROMPT, prompt_id="p-9")
    send(USAGECTL, env.vars(), data)
    [hashed] = spooled(env.home)
    assert hashed["payload"] == {
        "permission_mode": "default", "prompt_id": "p-9", "prompt_length": len(PROMPT),
        "prompt_sha256": hashlib.sha256(PROMPT.encode()).hexdigest()}  # fmt: skip
    env.extra["USAGECTL_HOOK_PROMPTS"] = "1"
    send(USAGECTL, env.vars(), data | {"prompt_id": "p-10"})
    kept = spooled(env.home)[1]
    assert kept["payload"]["prompt"] == PROMPT
    assert kept["payload"]["prompt_sha256"] == hashed["payload"]["prompt_sha256"]
