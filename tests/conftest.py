"""Shared fixtures: a real nats-server per test, temporary homes, the corpus, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from usagectl.processors.embedded import start_server as start_nats

BIN = Path(sys.executable).parent
USAGECTL = str(BIN / "usagectl")


@dataclass
class NatsServer:
    url: str
    port: int
    store: Path
    process: subprocess.Popen[bytes]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def start(self) -> None:
        """(Re)start on the same port and store, as a crashed hub would come back."""
        self.process, _ = _spawn(str(self.port), self.store)


def _spawn(port: str, store: Path) -> tuple[subprocess.Popen[bytes], int]:
    args = ["-js", "-a", "127.0.0.1", "-p", port, "-sd", str(store)]
    proc, bound, _ = start_nats(args, store.parent / "ports", store.parent / "nats-server.log")
    return proc, bound


def start_server(where: Path) -> NatsServer:
    store = where / "nats-store"
    proc, port = _spawn("-1", store)
    return NatsServer(f"nats://127.0.0.1:{port}", port, store, proc)


def system_tool(*names: str, package: str) -> str:
    """The path of a system program a test drives (a browser, tmux). Missing, the test is
    skipped with one line saying how to get it; under CI (CI=true) a missing one fails, as
    .ci/run installs it."""
    for name in names:
        if found := shutil.which(name):
            return found
    how = f"{names[0]} is not installed (apt-get install {package}; .ci/run does this)"
    if os.environ.get("CI") == "true":
        pytest.fail(how)
    pytest.skip(how)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = start_server(tmp_path)
    yield server
    server.kill()


@dataclass
class Env:
    """A user's world for one test: their Claude data, usagectl's home, and the hub."""

    root: Path
    claude: Path
    home: Path
    nats_url: str | None
    machine: str = "test-machine"
    extra: dict[str, str] = field(default_factory=dict)

    def vars(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("USAGECTL_", "CLAUDE"))}
        env.update(
            HOME=str(self.root / "user-home"),
            USAGECTL_HOME=str(self.home),
            CLAUDE_CONFIG_DIR=str(self.claude),
            USAGECTL_MACHINE=self.machine,
            TZ="UTC",
            COLUMNS="200",
        )
        if self.nats_url:
            env["USAGECTL_NATS_URL"] = self.nats_url
        env.update(self.extra)
        return env

    def run(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [USAGECTL, *args], env=self.vars(), capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"usagectl {' '.join(args)} failed:\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        """Start a long-running command; its stderr goes to ``<root>/<command>.log``."""
        with (self.root / f"{args[0]}.log").open("ab") as log:
            return subprocess.Popen(
                [USAGECTL, *args], env=self.vars(), stdout=subprocess.DEVNULL, stderr=log
            )

    def log(self, command: str) -> str:
        return (self.root / f"{command}.log").read_text(errors="replace")


def make_env(where: Path, nats_url: str | None) -> Env:
    claude = where / "claude"
    (claude / "projects").mkdir(parents=True)
    (where / "user-home").mkdir()
    return Env(where, claude, where / "usagectl-home", nats_url)


@pytest.fixture
def env(tmp_path: Path, nats_server: NatsServer) -> Env:
    return make_env(tmp_path, nats_server.url)
