"""`serve` on a public address bounds connections before anyone is authenticated: 1,100
half-open connections against a server limited to 1,024 descriptors do not keep the owner's
request from being answered, and stderr stays quiet; half-sent requests are closed; health
says what state the read model is in."""

from __future__ import annotations

import contextlib
import http.client
import json
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import USAGECTL, Env
from corpus import generate
from ports import free_port
from resilience import wait_for

ATTACKERS = 1100


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


@contextlib.contextmanager
def _public_server(env: Env) -> Iterator[tuple[int, str, Path]]:
    port, log = free_port(), env.root / "serve.log"
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [USAGECTL, "serve", "--host", "0.0.0.0", "--port", str(port), "--rate-limit", "0"],
            env=env.vars(), stdout=subprocess.DEVNULL, stderr=err, preexec_fn=_limit_descriptors,
        )  # fmt: skip
    try:
        token_file = env.home / "serve-token"
        wait_for(lambda: token_file.exists() and _status(port, "/api/health") == 401, 30,
                 "serve to answer")  # fmt: skip
        yield port, token_file.read_text().strip(), log
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _status(port: int, path: str, token: str | None = None) -> int:
    try:
        return _get(port, path, token, timeout=5)[0]
    except OSError:
        return 0


def _get(port: int, path: str, token: str | None, timeout: float) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_half_open_connections_do_not_starve_the_owner(env: Env) -> None:
    generate(env.claude, seed=71, sessions=3, days=1)
    env.run("sync")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < ATTACKERS + 200:
        pytest.skip(f"this test needs {ATTACKERS + 200} descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    held: list[socket.socket] = []
    try:
        with _public_server(env) as (port, token, log):
            for i in range(ATTACKERS):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                if i % 5 == 0:  # some send half a request and stop there
                    s.sendall(b"GET /api/daily HTTP/1.1\r\nHost: x\r\n")
                held.append(s)
            started = time.monotonic()
            status, body = _get(port, "/api/daily?timezone=UTC", token, timeout=30)
            took = time.monotonic() - started
            assert status == 200 and json.loads(body)["totals"]["totalTokens"] > 0
            print(f"authorised request answered in {took:.3f} s behind {ATTACKERS} connections")

            # What never finishes its request is closed (after the header timeout, or
            # earlier, to make room): on the old main they were held for ever.
            def all_closed() -> bool:
                for s in held[-50:]:
                    s.settimeout(0.05)
                    try:
                        if s.recv(1) != b"":
                            return False
                    except (TimeoutError, BlockingIOError):
                        return False
                    except OSError:
                        continue
                return True

            wait_for(all_closed, 60, "the idle connections to be closed")
            assert _status(port, "/api/health", token) == 200
        lines = log.read_text(errors="replace").splitlines()
        assert len(lines) < 100, lines[:20]  # on the old main: a traceback per failed accept
        assert "Traceback" not in "\n".join(lines)
    finally:
        for s in held:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_health_says_what_is_wrong_with_the_read_model(env: Env) -> None:
    with _public_server(env) as (port, token, _):
        status, body = _get(port, "/api/health", token, timeout=10)
        assert status == 503  # on the old main: 200 "ok" with every report a 503
        health = json.loads(body)
        assert health["status"] == "degraded" and "usagectl sync" in health["readModel"]
