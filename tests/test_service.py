"""`usagectl service install|uninstall|status` with a temporary HOME: the unit files written
(systemd user units, launchd agents), reinstalling, removing only ours, and status where no
systemd user manager is reachable (as here: the command to run is printed instead)."""

from __future__ import annotations

import os
import plistlib
import subprocess
from pathlib import Path

import pytest
from conftest import USAGECTL


def run(home: Path, *args: str, extra: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    runtime = home / "runtime"
    runtime.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("USAGECTL_", "XDG_", "DBUS_", "CLAUDE"))}  # fmt: skip
    env |= {"HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}  # no user bus in here
    env |= extra or {}
    return subprocess.run([USAGECTL, "service", *args], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    data = home / ".local" / "share" / "usagectl"
    data.mkdir(parents=True)
    (data / "config.toml").write_text('[hub]\nurl = "nats://hub:4222"\nuser = "laptop"\n'
                                      'password = "svc-secret-password"\n')  # fmt: skip
    return home


UNITS = Path(".config/systemd/user")


def test_install_writes_a_user_unit_and_says_how_to_start_it(home: Path) -> None:
    done = run(home, "install", extra={"USAGECTL_NATS_PASSWORD": "env-secret"})
    assert done.returncode == 0, done.stderr
    unit = home / UNITS / "usagectl-producer.service"
    text = unit.read_text()
    assert f"ExecStart={USAGECTL} up" in text
    assert f"Environment=USAGECTL_HOME={home}/.local/share/usagectl" in text
    assert "Restart=on-failure" in text and "RestartSec=15" in text
    assert "WantedBy=default.target" in text
    assert "systemctl --user daemon-reload && systemctl --user enable --now " \
           "usagectl-producer.service" in done.stdout  # fmt: skip
    # Secrets stay in config.toml: neither the unit nor the output carries them.
    for secret in ("svc-secret-password", "env-secret"):
        assert secret not in text + done.stdout + done.stderr
    assert "USAGECTL_NATS_PASSWORD" in done.stderr  # named, so the user knows it is not seen

    again = run(home, "install")
    assert again.returncode == 0
    assert f"unchanged {unit}" in again.stdout
    assert unit.read_text() == text

    status = run(home, "status")
    assert status.returncode == 0
    assert "usagectl-producer" in status.stdout and "not reachable" in status.stdout
    assert "usagectl-processor   not installed" in status.stdout


def test_hub_role_runs_nats_server_and_the_processor(home: Path, tmp_path: Path) -> None:
    conf = tmp_path / "hub.conf"
    conf.write_text("listen: 127.0.0.1:4222\n")
    done = run(home, "install", "--role", "hub", "--nats-config", str(conf))
    assert done.returncode == 0, done.stderr
    nats = (home / UNITS / "usagectl-nats.service").read_text()
    processor = (home / UNITS / "usagectl-processor.service").read_text()
    assert "/nats-server -c " + str(conf) in nats
    assert f"ExecStart={USAGECTL} processor" in processor
    assert "After=network-online.target usagectl-nats.service" in processor
    assert not (home / UNITS / "usagectl-producer.service").exists()
    wrong = run(home, "install", "--nats-config", str(conf))
    assert wrong.returncode == 1 and "--nats-config goes with --role hub" in wrong.stderr


def test_uninstall_removes_only_ours(home: Path) -> None:
    units = home / UNITS
    units.mkdir(parents=True)
    foreign = units / "usagectl-processor.service"
    foreign.write_text("[Service]\nExecStart=/usr/bin/true\n")  # the user's own, same name
    other = units / "something-else.service"
    other.write_text("[Service]\nExecStart=/usr/bin/true\n")
    assert run(home, "install").returncode == 0
    refused = run(home, "install", "--role", "hub")
    assert refused.returncode == 1
    assert "not written by usagectl: left alone" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    done = run(home, "uninstall")
    assert done.returncode == 0, done.stderr
    assert not (units / "usagectl-producer.service").exists()
    assert foreign.exists() and other.exists()
    assert "no usagectl service is installed" in run(home, "uninstall").stdout


def test_dry_run_writes_nothing(home: Path) -> None:
    done = run(home, "install", "--dry-run")
    assert done.returncode == 0
    assert "[Service]" in done.stdout and "ExecStart=" in done.stdout
    assert not (home / UNITS).exists()


def test_launchd_agent(home: Path) -> None:
    done = run(home, "install", "--platform", "launchd")
    assert done.returncode == 0, done.stderr
    plist_path = home / "Library" / "LaunchAgents" / "io.usagectl.producer.plist"
    agent = plistlib.loads(plist_path.read_bytes())
    assert agent["Label"] == "io.usagectl.producer"
    assert agent["ProgramArguments"] == [USAGECTL, "up"]
    assert agent["EnvironmentVariables"] == {
        "USAGECTL_HOME": f"{home}/.local/share/usagectl"}  # fmt: skip
    assert agent["KeepAlive"] == {"SuccessfulExit": False} and agent["RunAtLoad"] is True
    assert "launchctl bootstrap gui/" in done.stdout  # launchctl is not here: the command
    assert "svc-secret-password" not in plist_path.read_text()
    status = run(home, "status", "--platform", "launchd", "--json")
    assert '"installed": true' in status.stdout
    assert run(home, "uninstall", "--platform", "launchd").returncode == 0
    assert not plist_path.exists()


def test_bad_role_is_one_line(home: Path) -> None:
    done = run(home, "install", "--role", "everything")
    assert done.returncode == 1
    assert done.stderr.strip() == "usagectl: invalid --role 'everything': producer or hub"
