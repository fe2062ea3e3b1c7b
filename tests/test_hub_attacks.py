"""A hostile machine on a hub, with its own valid credentials from `deploy hub-config`, cannot
change another machine's or the hub's durable consumers (every create API a nats client can
use is tried), nor make the hub deliver anywhere but into its own inbox: not through a push
consumer's deliver subject, nor through the reply subject of a pull request or of an ack
("+NXT"), aimed at another machine's inbox or at another consumer's own subjects (a delivery
to ``$JS.API.CONSUMER.RESET.<stream>.<durable>`` moves that durable). Its own durables and
ordered consumers (what `sync`, `watch` and `/events` use) still work."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
from conftest import USAGECTL, Env, make_env
from corpus import generate
from hubs import Hub, jetstream_streams, wait_for_guard, wait_until
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from ports import free_port
from usagectl.processors.bus import DURABLES
from usagectl.processors.consumer_runner import durable_name
from usagectl.processors.consumers import installed
from usagectl.processors.hubconn import BusSettings
from usagectl.processors.hubguard import owned_durables, owns, refusal
from usagectl.processors.ordered import ephemeral_name, ordered
from usagectl.projections.events import encode_token

STREAM = "USAGECTL"
VICTIMS = ("processor_desktop", "processor_hub")
API = "usagectl.api.laptop"  # laptop's JetStream API, through the hub's guard
RESET = f"$JS.API.CONSUMER.RESET.{STREAM}.processor_desktop"


def _machine(where: Path, name: str, member_dir: Path) -> Env:
    env = make_env(where / name, None)
    env.machine = name
    env.home.mkdir(parents=True)
    for f in member_dir.iterdir():
        shutil.copy2(f, env.home / f.name)
    return env


def _password(env: Env) -> str:
    return str(tomllib.loads((env.home / "config.toml").read_text())["hub"]["password"])


@dataclass
class World:
    hub: Hub
    admin: Env
    laptop: Env
    desktop: Env


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A hub from `deploy hub-config` for laptop and desktop, its processor (the guard)
    running, and desktop's durable made by a `sync` of desktop's."""
    tmp_path = tmp_path_factory.mktemp("attacks")
    port, out = free_port(), tmp_path / "usagectl-hub"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("USAGECTL_")}
    subprocess.run(
        [USAGECTL, "deploy", "hub-config", "--machine", "laptop", "--machine", "desktop",
         "--out", str(out), "--listen", f"127.0.0.1:{port}", "--url", f"nats://127.0.0.1:{port}"],
        capture_output=True, text=True, env=clean, cwd=tmp_path, check=True,
    )  # fmt: skip
    hub = Hub(out / "hub.conf", port, 0, tmp_path / "hub.log").start()
    admin = _machine(tmp_path, "hub", out / "hub")
    world = World(hub, admin, _machine(tmp_path, "laptop", out / "machines" / "laptop"),
                  _machine(tmp_path, "desktop", out / "machines" / "desktop"))  # fmt: skip
    processor = admin.popen("processor")
    try:
        wait_until(lambda: STREAM in jetstream_streams(hub), 30, "the hub's streams")
        wait_for_guard(hub)
        generate(world.desktop.claude, seed=91, sessions=2, days=1)
        world.desktop.run("sync")  # processor_desktop exists now
        wait_until(lambda: _has_victims(hub.url, _password(admin)), 30, "the hub's durable")
        yield world
    finally:
        processor.terminate()
        processor.wait(timeout=20)
        hub.stop()


async def _as(world: World, name: str, errors: list[str] | None = None) -> Client:
    env = {"laptop": world.laptop, "desktop": world.desktop, "hub": world.admin}[name]

    async def on_error(err: Exception) -> None:
        if errors is not None:
            errors.append(str(err))

    inbox = "_INBOX" if name == "hub" else f"_INBOX_{name}"
    return await nats.connect(world.hub.url, user=name, password=_password(env),
                              inbox_prefix=inbox, error_cb=on_error,
                              max_reconnect_attempts=0)  # fmt: skip


def _attacks(victim: str) -> list[tuple[str, dict[str, Any]]]:
    nothing = "usagectl.v1.nothing.>"
    base = {"ack_policy": "all", "deliver_policy": "all", "filter_subject": nothing}
    return [
        (f"CONSUMER.CREATE.{STREAM}", {**base, "name": victim}),  # the legacy unnamed
        (f"CONSUMER.CREATE.{STREAM}", {**base, "durable_name": victim}),
        (f"CONSUMER.CREATE.{STREAM}.{victim}", {**base, "name": victim}),
        (f"CONSUMER.CREATE.{STREAM}.{victim}.{nothing}", {**base, "name": victim}),
        (f"CONSUMER.DURABLE.CREATE.{STREAM}.{victim}", {**base, "durable_name": victim}),
    ]


async def _attack(world: World) -> tuple[list[str], list[str], list[str]]:
    """Every create attack as laptop, on JetStream's API and through the guard: what the API
    answered (a reply means it was taken up), the guard's answers, the server's refusals."""
    violations: list[str] = []
    nc = await _as(world, "laptop", violations)
    answered, guarded = [], []
    try:
        for victim in VICTIMS:
            for api, config in _attacks(victim):
                body = json.dumps({"stream_name": STREAM, "config": config}).encode()
                try:
                    reply = await nc.request(f"$JS.API.{api}", body, timeout=1)
                    answered.append(f"{api}: {reply.data[:120]!r}")
                except (TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError):
                    pass
                guarded.append(await _ask_guard(nc, f"{API}.{api}", body))
    finally:
        await nc.close()
    return answered, guarded, violations


async def _follow(world: World) -> None:
    """Its own ordered consumer (as `watch` makes them) works, through the guard."""
    nc = await _as(world, "laptop")
    try:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        js = nc.jetstream(prefix=API)
        sub = await ordered(js, "usagectl.v1.>", STREAM, config, owner="laptop")
        await sub.next_msg(timeout=10)
        await sub.unsubscribe()
    finally:
        await nc.close()


async def _filters(world: World) -> dict[str, Any]:
    nc = await _as(world, "hub")
    try:
        js = nc.jetstream()
        found = {}
        for victim in VICTIMS:
            c = (await js.consumer_info(STREAM, victim)).config
            found[victim] = (c.filter_subjects, c.filter_subject)
        return found
    finally:
        await nc.close()


def _has_victims(url: str, password: str) -> bool:
    async def go() -> bool:
        nc = await nats.connect(url, user="hub", password=password, max_reconnect_attempts=0)
        try:
            for victim in VICTIMS:
                await nc.jetstream().consumer_info(STREAM, victim)
        finally:
            await nc.close()
        return True

    try:
        return asyncio.run(go())
    except Exception:
        return False


def test_a_machine_cannot_touch_another_machines_or_the_hubs_durables(world: World) -> None:
    before = asyncio.run(_filters(world))
    answered, guarded, violations = asyncio.run(_attack(world))
    # On the old main: the unnamed create with the victim's name is taken as an update.
    assert answered == [], answered
    assert all("is not for machines" in g or "not its own" in g for g in guarded), guarded
    assert asyncio.run(_filters(world)) == before
    assert len(violations) >= len(VICTIMS) * len(_attacks("x")), violations
    assert all("permissions violation" in v.lower() for v in violations), violations
    asyncio.run(_follow(world))
    world.laptop.run("sync")  # its own durables and heartbeat follower still work


@dataclass
class Aimed:
    """What laptop's deliveries aimed elsewhere came to."""

    consumers: dict[str, str]  # every consumer on the hub -> its deliver subject
    victim_inbox: list[bytes]
    guard_answers: list[str]
    violations: list[str]


async def _aim_elsewhere(world: World) -> Aimed:
    """As laptop: push consumers delivering into desktop's inbox and into desktop's durable's
    RESET subject, and a pull request and a "+NXT" ack of its own durable whose replies go
    to that RESET subject; each on JetStream's own subjects, then through the guard."""
    admin, desktop = await _as(world, "hub"), await _as(world, "desktop")
    violations: list[str] = []
    laptop = await _as(world, "laptop", violations)
    got: list[bytes] = []

    async def keep(msg: Msg) -> None:
        got.append(msg.data)

    try:
        # A subscription of desktop's on a literal inbox subject (as each of its pull and
        # ordered consumers has): told it, laptop aims there.
        target = "_INBOX_desktop.victim"
        sub = await desktop.subscribe(target, cb=keep)
        await desktop.flush()
        # On its own subject: the payload a delivery to RESET reads as "go to sequence 1".
        seq = (await laptop.jetstream().publish("usagectl.v1.usage.laptop", b'{"seq": 1}')).seq
        creates = []
        for deliver in (target, RESET):
            name = ephemeral_name("laptop")  # a name of laptop's own: only the target is wrong
            config = {
                "name": name,
                "deliver_subject": deliver,
                "ack_policy": "none",
                "deliver_policy": "all",
                "filter_subject": "usagectl.v1.usage.laptop",
            }
            body = json.dumps({"stream_name": STREAM, "config": config}).encode()
            creates.append((f"CONSUMER.CREATE.{STREAM}.{name}", body))
        # processor_laptop is laptop's own durable (its `sync` made it); the message above is
        # the next it delivers.
        pulls = [(f"CONSUMER.MSG.NEXT.{STREAM}.processor_laptop", b'{"batch": 1}'),
                 (f"ACK.{STREAM}.processor_laptop.1.{seq}.1.0.0", b"+NXT")]  # fmt: skip
        for op, body in creates + pulls:
            direct = f"$JS.{op}" if op.startswith("ACK.") else f"$JS.API.{op}"
            await laptop.publish(direct, body, reply=RESET if (op, body) in pulls else "")
        answers = [await _ask_guard(laptop, f"{API}.{op}", body) for op, body in creates]
        for op, body in pulls:
            await laptop.publish(f"{API}.{op}", body, reply=RESET)
        # Answered after everything laptop sent before has been handled (by the guard too).
        answers.append(await _ask_guard(laptop, f"{API}.STREAM.PURGE.{STREAM}", b""))
        consumers = {}
        for stream in (STREAM, f"{STREAM}_HEARTBEAT"):
            for info in await admin.jetstream().consumers_info(stream):
                consumers[info.name] = info.config.deliver_subject or ""
        await desktop.flush()
        await sub.unsubscribe()
        return Aimed(consumers, got, answers, violations)
    finally:
        for nc in (laptop, desktop, admin):
            await nc.close()


async def _ask_guard(nc: Client, subject: str, body: bytes) -> str:
    try:
        reply = json.loads((await nc.request(subject, body, timeout=10)).data)
    except (TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError):
        return "no answer"
    return str(reply.get("error", {}).get("description", reply))


async def _position(world: World) -> tuple[int, int]:
    nc = await _as(world, "hub")
    try:
        info = await nc.jetstream().consumer_info(STREAM, "processor_desktop")
        return info.delivered.stream_seq, info.ack_floor.stream_seq
    finally:
        await nc.close()


def test_deliveries_go_only_into_the_machines_own_inbox(world: World) -> None:
    world.laptop.run("sync")  # laptop's own durable, made as usagectl makes it
    before = asyncio.run(_position(world))
    aimed = asyncio.run(_aim_elsewhere(world))
    # On the old main both push consumers are made, fill desktop's inbox and move desktop's
    # durable, and so do the pull request's and the ack's replies.
    for name, deliver in aimed.consumers.items():
        owner = name.rsplit("_", 1)[-1]
        assert not deliver or deliver.startswith(f"_INBOX_{owner}."), (name, deliver)
    assert aimed.victim_inbox == [], aimed.victim_inbox[:3]
    assert asyncio.run(_position(world)) == before
    assert [a.split(" outside ")[0] for a in aimed.guard_answers] == [
        "refused by the hub's guard: deliver subject _INBOX_desktop.victim",
        f"refused by the hub's guard: deliver subject {RESET}",
        f"refused by the hub's guard: STREAM.PURGE.{STREAM} is not for machines",
    ]
    assert len(aimed.violations) == 4, aimed.violations  # two creates, a pull, an ack
    assert all("permissions violation" in v.lower() for v in aimed.violations)
    log = world.admin.root / "processor.log"
    wait_until(lambda: "the hub's guard refused" in log.read_text(), 30,
               "the guard's line about laptop's refused requests")  # fmt: skip


HUB = BusSettings(url="", identity="hub")
BODY = json.dumps({"stream_name": STREAM, "config": {"deliver_subject": "_INBOX_laptop.x"}})


@pytest.mark.parametrize(
    ("op", "reply", "body", "why"),
    [
        (f"CONSUMER.CREATE.{STREAM}", "_INBOX_laptop.r", BODY, "is not for machines"),
        (f"CONSUMER.LIST.{STREAM}", "_INBOX_laptop.r", "", "is not for machines"),
        (f"STREAM.PURGE.{STREAM}", "_INBOX_laptop.r", "", "is not for machines"),
        (f"CONSUMER.INFO.{STREAM}.processor_desktop", "_INBOX_laptop.r", "", "not its own"),
        (f"CONSUMER.INFO.{STREAM}.processor_laptopx", "_INBOX_laptop.r", "", "not its own"),
        (f"CONSUMER.INFO.{STREAM}.o{'A' * 22}_desktop", "_INBOX_laptop.r", "", "not its own"),
        ("CONSUMER.INFO.OTHER.processor_laptop", "_INBOX_laptop.r", "", "not usagectl's"),
        (f"CONSUMER.MSG.NEXT.{STREAM}.processor_laptop", "", "{}", "without a reply"),
        (f"CONSUMER.MSG.NEXT.{STREAM}.processor_laptop", "_INBOX_laptopx.r", "{}", "outside"),
        (f"ACK.{STREAM}.processor_desktop.1.2.2.0.0", "", "+ACK", "not its own"),
        # nats-server reads keys without regard to case: a differently spelled key is refused.
        (f"CONSUMER.CREATE.{STREAM}.processor_laptop", "_INBOX_laptop.r",
         BODY.replace("deliver_subject", "Deliver_Subject"), "unknown keys"),
        (f"CONSUMER.CREATE.{STREAM}.processor_laptop", "_INBOX_laptop.r",
         BODY.replace("}}", ', "deliver_subject": "_INBOX_desktop.x"}}'), "twice"),
        (f"CONSUMER.CREATE.{STREAM}.processor_laptop", "_INBOX_laptop.r",
         BODY.replace("_INBOX_laptop.x", "_INBOX_laptopx.x"), "outside its inbox"),
        (f"CONSUMER.CREATE.{STREAM}.processor_laptop", "_INBOX_laptop.r", BODY, None),
        (f"CONSUMER.CREATE.{STREAM}.o{'A' * 22}_laptop.usagectl.v1.>", "_INBOX_laptop.r",
         BODY, None),
        (f"ACK.{STREAM}.processor_laptop.1.2.2.0.0", "", "+ACK", None),
        (f"STREAM.INFO.{STREAM}_HEARTBEAT", "_INBOX_laptop.r", "", None),
    ],
)  # fmt: skip
def test_the_guard_forwards_only_what_stays_with_its_sender(
    op: str, reply: str, body: str, why: str | None
) -> None:
    found = refusal(HUB, "laptop", op, reply, body.encode())
    assert (found is None) if why is None else (found is not None and why in found), found


def test_the_guard_knows_a_members_consumers_by_the_names_usagectl_gives_them() -> None:
    for name in ("laptop", "host.with.dots", "ünï_x", "x" * 300):
        bus, token = BusSettings(url="", identity=name), encode_token(name)
        given = {bus.durable(base) for base in DURABLES}
        given |= {durable_name(c, name) for c in installed()}
        assert owned_durables(token) == given
        assert owns(token, ephemeral_name(name))
        assert not owns(encode_token(name + "x"), ephemeral_name(name))
