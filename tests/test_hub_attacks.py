"""A hostile machine on a hub, with its own valid credentials from `deploy hub-config`, cannot
change another machine's or the hub's durable consumers (every create API a nats client can
use is tried); its own ordered consumers (what `watch` and `/events` use) still work."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import nats
from conftest import USAGECTL, Env, make_env
from corpus import generate
from hubs import Hub, jetstream_streams, wait_until
from nats.js.api import ConsumerConfig, DeliverPolicy
from ports import free_port
from usagectl.processors.ordered import ordered

STREAM = "USAGECTL"
VICTIMS = ("processor_desktop", "processor_hub")


def _machine(where: Path, name: str, member_dir: Path) -> Env:
    env = make_env(where / name, None)
    env.machine = name
    env.home.mkdir(parents=True)
    for f in member_dir.iterdir():
        shutil.copy2(f, env.home / f.name)
    return env


def _password(env: Env) -> str:
    return str(tomllib.loads((env.home / "config.toml").read_text())["hub"]["password"])


def _attacks(victim: str) -> list[tuple[str, dict[str, Any]]]:
    nothing = "usagectl.v1.nothing.>"
    base = {"ack_policy": "all", "deliver_policy": "all", "filter_subject": nothing}
    return [
        (f"$JS.API.CONSUMER.CREATE.{STREAM}", {**base, "name": victim}),  # the legacy unnamed
        (f"$JS.API.CONSUMER.CREATE.{STREAM}", {**base, "durable_name": victim}),
        (f"$JS.API.CONSUMER.CREATE.{STREAM}.{victim}", {**base, "name": victim}),
        (f"$JS.API.CONSUMER.CREATE.{STREAM}.{victim}.{nothing}", {**base, "name": victim}),
        (f"$JS.API.CONSUMER.DURABLE.CREATE.{STREAM}.{victim}", {**base, "durable_name": victim}),
    ]


async def _attack(url: str, password: str) -> tuple[list[str], list[str]]:
    """Every attack as laptop; what the hub answered (a reply means it was taken up)."""
    violations: list[str] = []

    async def on_error(err: Exception) -> None:
        violations.append(str(err))

    nc = await nats.connect(url, user="laptop", password=password, inbox_prefix="_INBOX_laptop",
                            error_cb=on_error, max_reconnect_attempts=0)  # fmt: skip
    answered = []
    try:
        for victim in VICTIMS:
            for api, config in _attacks(victim):
                body = json.dumps({"stream_name": STREAM, "config": config}).encode()
                try:
                    reply = await nc.request(api, body, timeout=1)
                    answered.append(f"{api}: {reply.data[:120]!r}")
                except (TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError):
                    pass
    finally:
        await nc.close()
    return answered, violations


async def _follow(url: str, password: str) -> None:
    """Its own ordered consumer (named, as usagectl creates them) works."""
    nc = await nats.connect(url, user="laptop", password=password, inbox_prefix="_INBOX_laptop")
    try:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        sub = await ordered(nc.jetstream(), "usagectl.v1.>", STREAM, config)
        await sub.next_msg(timeout=10)
        await sub.unsubscribe()
    finally:
        await nc.close()


async def _filters(url: str, password: str) -> dict[str, Any]:
    nc = await nats.connect(url, user="hub", password=password)
    try:
        js = nc.jetstream()
        found = {}
        for victim in VICTIMS:
            c = (await js.consumer_info(STREAM, victim)).config
            found[victim] = (c.filter_subjects, c.filter_subject)
        return found
    finally:
        await nc.close()


def test_a_machine_cannot_touch_another_machines_or_the_hubs_durables(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "usagectl-hub"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("USAGECTL_")}
    subprocess.run(
        [USAGECTL, "deploy", "hub-config", "--machine", "laptop", "--machine", "desktop",
         "--out", str(out), "--listen", f"127.0.0.1:{port}", "--url", f"nats://127.0.0.1:{port}"],
        capture_output=True, text=True, env=clean, cwd=tmp_path, check=True,
    )  # fmt: skip
    hub = Hub(out / "hub.conf", port, 0, tmp_path / "hub.log").start()
    admin = _machine(tmp_path, "hub", out / "hub")
    laptop = _machine(tmp_path, "laptop", out / "machines" / "laptop")
    desktop = _machine(tmp_path, "desktop", out / "machines" / "desktop")
    processor = admin.popen("processor")
    try:
        wait_until(lambda: STREAM in jetstream_streams(hub), 20, "the hub's streams")
        generate(desktop.claude, seed=91, sessions=2, days=1)
        desktop.run("sync")  # processor_desktop exists now
        admin_password = _password(admin)
        wait_until(lambda: _has_victims(hub.url, admin_password), 20, "the hub's processor")
        before = asyncio.run(_filters(hub.url, admin_password))

        answered, violations = asyncio.run(_attack(hub.url, _password(laptop)))
        # On the old main: the unnamed create with the victim's name is taken as an update.
        assert answered == [], answered
        assert asyncio.run(_filters(hub.url, admin_password)) == before
        assert len(violations) >= len(VICTIMS) * len(_attacks("x")), violations
        assert all("permissions violation" in v.lower() for v in violations), violations
        asyncio.run(_follow(hub.url, _password(laptop)))
        laptop.run("sync")  # its own durables and heartbeat follower still work
    finally:
        processor.terminate()
        processor.wait(timeout=20)
        hub.stop()


def _has_victims(url: str, password: str) -> bool:
    try:
        asyncio.run(_filters(url, password))
    except Exception:
        return False
    return True
