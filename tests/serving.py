"""Helpers for the `usagectl serve` tests: start it on a free port, talk HTTP to it with the
standard library, and read its Server-Sent Events line by line."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from conftest import Env
from ports import free_port


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Served:
    env: Env
    port: int
    process: subprocess.Popen[bytes]
    token: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def request(self, path: str, query: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, method: str = "GET",
                token: str | None = None) -> Reply:  # fmt: skip
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            sent = dict(headers or {})
            if token or self.token:
                sent.setdefault("Authorization", f"Bearer {token or self.token}")
            target = path + ("?" + urlencode(query) if query else "")
            conn.request(method, target, headers=sent)
            r = conn.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def get(self, path: str, **query: Any) -> Any:
        """The JSON of a 200 answer (anything else fails the test, with the server's words)."""
        reply = self.request(path, query)
        assert reply.status == 200, (path, query, reply.status, reply.body[:500])
        return reply.json()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=20)


def serve(env: Env, *args: str, token: str | None = None, timeout: float = 120) -> Served:
    """`usagectl serve` on a free port, once it answers."""
    port = free_port()
    process = env.popen("serve", "--port", str(port), *args)
    served = Served(env, port, process, token)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited {process.returncode}:\n{env.log('serve')}")
        try:
            if served.request("/api/health").status in (200, 401, 503):
                return served
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"serve did not answer:\n{env.log('serve')}")


@dataclass
class Event:
    type: str
    id: int | None
    data: Any


@dataclass
class EventStream:
    """A raw `/events` connection: its status, then events one by one."""

    conn: http.client.HTTPConnection
    response: http.client.HTTPResponse
    comments: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        return self.response.status

    def next(self, timeout: float = 60) -> Event:
        sock = self.conn.sock
        assert sock is not None
        sock.settimeout(timeout)
        data: list[str]
        kind, ident, data = "message", None, []
        while True:
            raw = self.response.readline()
            if not raw:
                raise EOFError("the event stream ended")
            line = raw.decode().rstrip("\n")
            if line == "" and data:
                return Event(kind, ident, json.loads("\n".join(data)))
            if line.startswith(":"):
                self.comments.append(line)
            elif line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("id: "):
                ident = int(line[4:])
            elif line.startswith("data: "):
                data.append(line[6:])

    def until(self, kind: str, timeout: float = 60) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.1, deadline - time.monotonic()))
            if event.type == kind:
                return event

    def close(self) -> None:
        self.conn.close()


def events(served: Served, since: int | None = None, last_id: int | None = None,
           token: str | None = None) -> EventStream:  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    headers = {"Accept": "text/event-stream"}
    if last_id is not None:
        headers["Last-Event-ID"] = str(last_id)
    if token or served.token:
        headers["Authorization"] = f"Bearer {token or served.token}"
    conn.request("GET", "/events" + (f"?since={since}" if since is not None else ""),
                 headers=headers)  # fmt: skip
    return EventStream(conn, conn.getresponse())


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def is_listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
