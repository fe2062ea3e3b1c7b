"""README's "Several machines" section, followed as a new user would: `usagectl deploy
hub-config` writes the hub's config and one config.toml per machine; a hub (nats-server and
the hub's processor) and two machines with their own data dirs, machine ids and credentials
share one stream; each machine's reports and live view show both."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
import tomllib
from pathlib import Path

import pytest
from conftest import USAGECTL, Env, make_env
from corpus import generate
from hubs import (
    Hub,
    Watch,
    append_live,
    assert_no_secret,
    jetstream_streams,
    wait_for_guard,
    wait_until,
)
from ports import free_port


def from_generated(where: Path, name: str, member_dir: Path) -> Env:
    """A machine whose data dir holds what `deploy hub-config` wrote for it, copied over."""
    env = make_env(where / name, None)
    env.machine = name
    env.home.mkdir(parents=True)
    for f in member_dir.iterdir():
        shutil.copy2(f, env.home / f.name)
    return env


def secrets_in(out: Path) -> list[str]:
    found = []
    for path in out.rglob("config.toml"):
        found.append(tomllib.loads(path.read_text())["hub"].get("password"))
    found += [p.read_text().strip() for p in out.rglob("*.nk")]
    return [s for s in found if s]


def daily_total(env: Env, *filters: str) -> int:
    return int(env.json("daily", "-z", "UTC", *filters)["totals"]["totalTokens"])


@pytest.mark.parametrize("auth", ["password", "nkey"])
def test_hub_and_two_machines_as_readme_says(tmp_path: Path, auth: str) -> None:
    port = free_port()
    out = tmp_path / "usagectl-hub"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("USAGECTL_")}
    gen = subprocess.run(
        [USAGECTL, "deploy", "hub-config", "--machine", "laptop", "--machine", "desktop",
         "--reader", "phone", "--out", str(out), "--listen", f"127.0.0.1:{port}",
         "--url", f"nats://127.0.0.1:{port}", *(["--nkey"] if auth == "nkey" else [])],
        capture_output=True, text=True, env=clean, cwd=tmp_path,
    )  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    secrets = secrets_in(out)
    assert len(secrets) == 4  # the admin, two machines and a reader
    assert_no_secret(secrets, gen.stdout, gen.stderr)
    for private in [out / "hub.conf", *out.rglob("config.toml"), *out.rglob("*.nk")]:
        assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
    again = subprocess.run([USAGECTL, "deploy", "hub-config", "--machine", "x", "--out", str(out)],
                           capture_output=True, text=True, env=clean)  # fmt: skip
    assert again.returncode == 1 and "--force" in again.stderr  # never overwritten silently

    hub = Hub(out / "hub.conf", port, 0, tmp_path / "hub.log").start()
    admin = from_generated(tmp_path, "hub", out / "hub")
    processor = admin.popen("processor")
    laptop = from_generated(tmp_path, "laptop", out / "machines" / "laptop")
    desktop = from_generated(tmp_path, "desktop", out / "machines" / "desktop")
    phone = from_generated(tmp_path, "phone", out / "readers" / "phone")
    up: subprocess.Popen[bytes] | None = None
    watch: Watch | None = None
    try:
        wait_until(lambda: "USAGECTL" in jetstream_streams(hub), 120, "the hub's streams")
        wait_for_guard(hub)
        t_laptop = generate(laptop.claude, seed=41, sessions=5, days=2)["totals"]["totalTokens"]
        t_desktop = generate(desktop.claude, seed=42, sessions=5, days=2)["totals"]["totalTokens"]
        laptop.run("sync")
        desktop.run("sync")
        assert daily_total(desktop) == t_laptop + t_desktop
        assert daily_total(desktop, "--machine", "laptop") == t_laptop

        # laptop runs as a service would (`usagectl up`); desktop watches live.
        # The session's file exists before `up` starts: a directory created while the watcher
        # runs may miss its first write until the 30-second sweep (producers/file_watch.py).
        (laptop.claude / "projects" / "-work-live").mkdir()
        (laptop.claude / "projects" / "-work-live" / "live.jsonl").touch()
        up = laptop.popen("up")
        watch = Watch([USAGECTL, "watch", "--json", "--refresh", "0.5"], desktop.vars(),
                      tmp_path / "watch.log")  # fmt: skip
        watch.wait_for(lambda line: True, 120)
        wait_until(lambda: "following transcripts" in laptop.log("up"), 120, "laptop's up")
        time.sleep(0.5)  # the file watcher starts just after that line
        append_live(laptop.claude, 1, 4321)
        seen = watch.wait_for(
            lambda line: any(m["name"] == "laptop" and m["tokens"] >= 4321 + 13
                             for m in line["machines"]), 20)  # fmt: skip
        assert seen["block"] is not None

        total = t_laptop + t_desktop + 4321 + 13
        wait_until(lambda: daily_total(laptop) == total, 120, "laptop's read model")
        wait_until(lambda: daily_total(admin) == total, 120, "the hub's read model")
        phone.run("replay")
        assert daily_total(phone) == total
        denied = phone.run("sync", check=False)
        assert denied.returncode == 1 and "publish as machine 'phone'" in denied.stderr
    finally:
        if watch is not None:
            watch.stop()
        for proc in (up, processor):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=20)
        hub.kill()
    logs = [laptop.log("up"), admin.log("processor"), (tmp_path / "watch.log").read_text(),
            hub.log_text()]  # fmt: skip
    logs += [(e.home / "processor.log").read_text() for e in (laptop, desktop, phone)]
    assert_no_secret(secrets, *logs)
