"""A durable consumer changed underneath usagectl (another machine's credentials updating it
with a filter that matches nothing) is reported by doctor and repaired by the processor, which
recreates it from its read model's cursor; counting goes on."""

from __future__ import annotations

import asyncio
import json
import signal

import nats
from conftest import Env
from corpus import generate
from resilience import read_model_tokens, wait_for

DURABLE = "processor_test-machine"


async def _tamper(url: str, stream: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        config = (await js.consumer_info(stream, DURABLE)).config
        config.filter_subjects = ["usagectl.v1.nothing.>"]
        await js.add_consumer(stream, config)  # an update: same name, same start
    finally:
        await nc.close()


def _line(mid: str, tokens: int) -> str:
    message = {"id": mid, "model": "claude-sonnet-4-5",
               "usage": {"input_tokens": tokens, "output_tokens": 1}}  # fmt: skip
    line = {"type": "assistant", "timestamp": "2026-09-03T12:00:00.000Z", "sessionId": "s",
            "requestId": "r-" + mid, "message": message}  # fmt: skip
    return json.dumps(line) + "\n"


def test_a_consumer_changed_underneath_is_reported_and_repaired(env: Env) -> None:
    truth = generate(env.claude, seed=81, sessions=3, days=1)
    want = truth["totals"]["totalTokens"]
    env.run("sync")
    stream = env.json("doctor")["bus"]["stream"]
    asyncio.run(_tamper(env.nats_url or "", stream))

    doctor = env.run("doctor", "--json", check=False)  # on the old main: "0 pending", all well
    assert doctor.returncode == 1
    problems = json.loads(doctor.stdout)["problems"]
    assert any(f"{DURABLE} was changed underneath" in p for p in problems), problems

    db = env.home / "usage.db"
    proc = env.popen("up")
    try:
        folder = env.claude / "projects" / "-p-later"
        folder.mkdir()
        (folder / "s.jsonl").write_text(_line("first", 300))
        wait_for(lambda: read_model_tokens(db) == want + 301, 60, "the processor running")
        asyncio.run(_tamper(env.nats_url or "", stream))  # again, while the processor runs
        (folder / "t.jsonl").write_text(_line("later", 4000))
        wait_for(lambda: read_model_tokens(db) == want + 301 + 4001, 90, "counting, repaired")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert "changed underneath" in (env.home / "processor.log").read_text()
    assert env.run("doctor").returncode == 0
