"""A hub with accounts and per-machine users (deploy/hub.conf, as committed): each machine
publishes only as itself, readers only read, wrong credentials fail once and plainly, and no
secret is ever printed or logged. Real nats-servers, real usagectl processes."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import Env, make_env
from corpus import generate
from deploy_examples import example_password
from hubs import DEPLOY, Hub, assert_no_secret, hub_from, one_line, wait_for_guard, write_toml
from jwts import Operator
from nats.aio.client import Client
from usagectl.cli.hubconfig import ADMIN, Member, permissions, render_machine_toml
from usagectl.processors.bus import (
    BusSettings,
    Refused,
    connect,
    stream_last_seq,
)
from usagectl.processors.hubconn import default_inbox_prefix, refusable
from usagectl.projections.events import Source, Usage, encode, subject

SECRETS = [example_password(n) for n in ("hub-admin", "laptop", "desktop", "dashboard")]


def member(
    where: Path, name: str, hub: Hub, password: str | None, user: str | None = None,
    role: str = "machine",
) -> Env:  # fmt: skip
    """A machine (or reader) with its own data dir, configured through config.toml only."""
    env = make_env(where / name, None)
    env.machine = name
    who = (user or name) if password is not None else None
    write_toml(env.home, render_machine_toml(name, hub.url, user=who, password=password,
                                             role=role))  # fmt: skip
    return env


def admin_of(where: Path, hub: Hub) -> Env:
    return member(where, "hub", hub, example_password("hub-admin"), user=ADMIN, role="admin")


def bus_as(hub: Hub, user: str, password: str) -> BusSettings:
    return BusSettings(url=hub.url, user=user, password=password, identity=user,
                       inbox_prefix=default_inbox_prefix(user))  # fmt: skip


def last_seq(hub: Hub) -> int:
    async def go() -> int:
        bus = bus_as(hub, ADMIN, example_password("hub-admin"))
        nc = await connect(bus)
        try:
            return await stream_last_seq(nc.jetstream(), bus)
        finally:
            await nc.close()

    return asyncio.run(go())


def forged_usage(machine: str) -> Usage:
    return Usage(
        event_id=f"forged-{machine}", ts=datetime.now(UTC), machine=machine, account="default",
        project="/forged", project_dir="-forged", session_id="forged", source=Source("x", 0),
        model="claude-opus-4-6", input=10**9, output=10**9,
    )  # fmt: skip


def try_forgery(hub: Hub) -> tuple[str, str]:
    """laptop's credentials: publish on desktop's subject (refused by the server, both as a
    JetStream publish and as a plain one); then a payload naming desktop on laptop's own
    subject (stored, but the processor does not believe it)."""

    async def go() -> tuple[str, str]:
        bus = bus_as(hub, "laptop", example_password("laptop"))
        nc = await connect(bus)
        try:
            js = nc.jetstream()
            target = subject(bus.prefix, "usage", "desktop")
            data = encode(forged_usage("desktop"))
            # Not reported at once, the publish would time out instead of raising Refused.
            with pytest.raises(Refused) as js_refusal:
                await refusable(js, js.publish(target, data, timeout=30), "publish as desktop")
            with pytest.raises(Refused) as core_refusal:
                await refusable(js, _publish_and_flush(nc, target, data), "publish as desktop")
            ack = await js.publish(subject(bus.prefix, "usage", "laptop"), data)
            assert ack.seq > 0  # its own subject: stored, whatever the payload says
            return str(js_refusal.value), str(core_refusal.value)
        finally:
            await nc.close()

    return asyncio.run(go())


async def _publish_and_flush(nc: Client, target: str, data: bytes) -> None:
    await nc.publish(target, data)
    await nc.flush(timeout=5)
    await asyncio.sleep(1)  # the refusal arrives before the flush's PONG; this never ends first


def total(env: Env, *filters: str) -> int:
    return int(env.json("daily", "-z", "UTC", *filters)["totals"]["totalTokens"])


def test_committed_hub_config_each_machine_publishes_only_as_itself(tmp_path: Path) -> None:
    hub = hub_from((DEPLOY / "hub.conf").read_text(), tmp_path / "hub")
    processor: subprocess.Popen[bytes] | None = None
    try:
        laptop = member(tmp_path, "laptop", hub, example_password("laptop"))
        desktop = member(tmp_path, "desktop", hub, example_password("desktop"))
        dashboard = member(tmp_path, "dashboard", hub, example_password("dashboard"))
        outputs: list[str] = []

        # A machine may not create the streams: the hub's admin does, once; its processor
        # then vets every machine's JetStream requests.
        early = laptop.run("sync", check=False)
        assert early.returncode == 1
        assert "start `usagectl processor` on the hub" in one_line(early.stderr)
        outputs.append(early.stderr)
        admin = admin_of(tmp_path, hub)
        outputs.append(admin.run("sync").stderr)
        processor = admin.popen("processor")
        wait_for_guard(hub)

        t_laptop = generate(laptop.claude, seed=21, sessions=6, days=3)["totals"]["totalTokens"]
        t_desktop = generate(desktop.claude, seed=22, sessions=6, days=3)["totals"]["totalTokens"]
        outputs += [laptop.run("sync").stderr, desktop.run("sync").stderr]
        outputs.append(laptop.run("sync").stderr)  # now its read model has desktop's too
        assert total(laptop) == t_laptop + t_desktop
        assert total(laptop, "--machine", "desktop") == t_desktop

        # laptop's credentials cannot publish as desktop: the server refuses, nothing stored.
        before = last_seq(hub)
        js_refusal, core_refusal = try_forgery(hub)
        assert "refused" in js_refusal and "refused" in core_refusal
        assert last_seq(hub) == before + 1  # only the payload-forgery on laptop's own subject
        outputs.append(laptop.run("sync").stderr)
        assert total(laptop, "--machine", "desktop") == t_desktop  # the forgery is not believed
        assert total(laptop) == t_laptop + t_desktop

        # Nor by claiming to be desktop: one clear line, nothing published.
        before = last_seq(hub)
        laptop.extra["USAGECTL_MACHINE"] = "desktop"
        posing = laptop.run("sync", check=False)
        laptop.extra.pop("USAGECTL_MACHINE")
        assert posing.returncode == 1
        assert "machine 'desktop'" in one_line(posing.stderr)
        laptop.extra["USAGECTL_NATS_INBOX_PREFIX"] = "_INBOX_laptop"  # past the inbox check
        laptop.extra["USAGECTL_MACHINE"] = "desktop"
        posing2 = laptop.run("sync", check=False)
        assert posing2.returncode == 1
        assert "may not publish as machine" not in posing2.stderr
        assert "to publish as machine 'desktop'" in one_line(posing2.stderr)
        assert last_seq(hub) == before
        outputs += [posing.stderr, posing2.stderr]

        # A reader reads everything and publishes nothing.
        reading = dashboard.run("sync", check=False)
        assert reading.returncode == 1
        assert "publish as machine 'dashboard'" in one_line(reading.stderr)
        outputs.append(dashboard.run("replay").stderr)
        assert total(dashboard) == t_laptop + t_desktop
        assert last_seq(hub) == before

        logs = [(e.home / "processor.log").read_text() for e in (laptop, desktop, dashboard)]
        assert_no_secret(SECRETS, *outputs, *logs, hub.log_text(), admin.log("processor"))
    finally:
        if processor is not None:
            processor.terminate()
            processor.wait(timeout=20)
        hub.kill()


@pytest.mark.parametrize(
    ("user", "password", "in_url"),
    [("laptop", "not-the-password", False), (None, None, False), ("stranger", "x-secret", False),
     ("laptop", "url-password-wrong", True)],
    ids=["wrong-password", "no-credentials", "unknown-user", "wrong-password-in-url"],
)  # fmt: skip
def test_wrong_or_missing_credentials_one_line_no_retry_storm(
    tmp_path: Path, user: str | None, password: str | None, in_url: bool
) -> None:
    hub = hub_from((DEPLOY / "hub.conf").read_text(), tmp_path / "hub")
    try:
        env = member(tmp_path, "laptop", hub, None if in_url else password, user=user)
        if in_url:
            env.extra["USAGECTL_NATS_URL"] = f"nats://{user}:{password}@127.0.0.1:{hub.port}"
        generate(env.claude, seed=3, sessions=2, days=1)
        for command in ("sync", "up"):  # a one-shot command and the service
            before = hub.log_text().count("authentication error")
            # A client that kept retrying would outlive the timeout (nats-py retries ~2 min).
            proc = env.run(command, check=False, timeout=60)
            line = one_line(proc.stderr)
            assert proc.returncode == 1, proc.stderr
            assert ("wants credentials and none are configured" if user is None
                    else "refused these credentials") in line, line  # fmt: skip
            attempts = hub.log_text().count("authentication error") - before
            assert 1 <= attempts <= 2, f"{attempts} attempts: a retry storm"
            assert_no_secret([s for s in (password, *SECRETS) if s], proc.stderr, proc.stdout)
            if in_url:
                assert f"{user}:****@" in line
        shown = env.run("config", "show").stdout
        doctor = env.run("doctor", "--json", check=False)
        assert '"reachable": false' in doctor.stdout
        assert_no_secret([s for s in (password,) if s], shown, doctor.stdout, doctor.stderr)
    finally:
        hub.kill()


def test_token_auth_end_to_end(tmp_path: Path) -> None:
    token = "tok-" + "s3cr3t" * 4
    conf = 'listen: 127.0.0.1:4222\njetstream {\n  store_dir: "x"\n}\n'
    conf += f'authorization {{\n  token: "{token}"\n}}\n'
    hub = hub_from(conf, tmp_path / "hub")
    try:
        env = make_env(tmp_path / "m", hub.url)
        env.extra["USAGECTL_NATS_TOKEN"] = token
        truth = generate(env.claude, seed=5, sessions=4, days=2)
        done = env.run("sync")
        assert total(env) == truth["totals"]["totalTokens"]
        env.extra["USAGECTL_NATS_TOKEN"] = "tok-wrong"
        wrong = env.run("sync", check=False)
        assert wrong.returncode == 1
        assert "refused these credentials" in one_line(wrong.stderr)
        assert_no_secret([token, "tok-wrong"], done.stderr, wrong.stderr, hub.log_text(),
                         (env.home / "processor.log").read_text())  # fmt: skip
    finally:
        hub.kill()


def test_creds_file_end_to_end(tmp_path: Path) -> None:
    """Operator mode: a user JWT and its seed in a .creds file (JWTs signed here with nkeys,
    as `nsc` would), with the same per-machine permissions as hub.conf."""
    op = Operator.new()
    hub = hub_from(op.server_conf(Path("store")), tmp_path / "hub")
    processor: subprocess.Popen[bytes] | None = None
    try:
        admin = make_env(tmp_path / "hub-admin", None)
        admin.machine = "hub"
        admin.home.mkdir(parents=True)
        op.creds("hub", None, admin.home / "hub.creds")
        write_toml(admin.home, f'[hub]\nurl = "{hub.url}"\ncreds = "hub.creds"\n'
                               "serve_guard = true\n")  # fmt: skip
        laptop = make_env(tmp_path / "laptop", None)
        laptop.machine = "laptop"
        laptop.home.mkdir(parents=True)
        creds = op.creds("laptop", permissions(Member("laptop", "machine", "")),
                         laptop.home / "laptop.creds")  # fmt: skip
        write_toml(laptop.home, f'[hub]\nurl = "{hub.url}"\ncreds = "laptop.creds"\n'
                                "guarded = true\n")  # fmt: skip
        outputs = [admin.run("sync").stderr]
        processor = admin.popen("processor")
        wait_for_guard(hub)
        truth = generate(laptop.claude, seed=7, sessions=4, days=2)
        outputs.append(laptop.run("sync").stderr)
        assert total(laptop) == truth["totals"]["totalTokens"]
        laptop.extra["USAGECTL_NATS_INBOX_PREFIX"] = "_INBOX_laptop"
        laptop.extra["USAGECTL_MACHINE"] = "desktop"
        posing = laptop.run("sync", check=False)
        assert posing.returncode == 1
        assert "to publish as machine 'desktop'" in one_line(posing.stderr)
        outputs.append(posing.stderr)
        secrets = [line for line in creds.read_text().splitlines() if line.startswith(("S", "ey"))]
        assert len(secrets) == 2  # the seed and the JWT
        assert_no_secret(secrets, *outputs, (laptop.home / "processor.log").read_text())
    finally:
        if processor is not None:
            processor.terminate()
            processor.wait(timeout=20)
        hub.kill()
