"""The OTLP/HTTP receiver `up --otlp` runs: Claude Code's OpenTelemetry export in, usage events
on the bus out.

``POST /v1/logs`` answers 200 only once the hub acknowledged every usage event the request
held (an exporter retries anything else: nothing acknowledged is lost, and the same record
re-sent has the same message id, stored once). ``POST /v1/metrics`` is accepted and counted.
A body that is not OTLP gets a 400 with one line; everything is counted in a small stats file
that `doctor` shows. Off loopback a bearer token is required (``OTEL_EXPORTER_OTLP_HEADERS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hmac
import json
import os
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nats.errors
import uvicorn
from nats.js import JetStreamContext
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from usagectl.projections.events import Usage, encode, subject

from .otlp import BadPayload, count_metric_points, decode_logs

STATS_FILE = "otlp-stats.json"
MAX_BODY = 16 * 1024 * 1024  # OTLP exporters batch a few thousand records at most
PUBLISH_TIMEOUT_S = 5.0
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
PROTOBUF = "application/x-protobuf"


@dataclass
class Stats:
    """What the receiver saw since it was first run here (kept across restarts)."""

    requests: int = 0
    log_records: int = 0
    usage_events: int = 0
    metric_points: int = 0
    bad_payloads: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    last_ms: int = 0

    @classmethod
    def load(cls, path: Path) -> Stats:
        with contextlib.suppress(OSError, ValueError, TypeError):
            return cls(**json.loads(path.read_text()))
        return cls()

    def save(self, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(asdict(self), sort_keys=True))
        tmp.replace(path)


def _add(into: dict[str, int], reason: str, n: int = 1) -> None:
    into[reason] = into.get(reason, 0) + n


@dataclass
class Receiver:
    js: JetStreamContext
    prefix: str
    machine: str
    account: str
    stats_path: Path
    token: str | None
    loopback: bool
    clock: Callable[[], float] = time.time
    stats: Stats = field(init=False)

    def __post_init__(self) -> None:
        self.stats = Stats.load(self.stats_path)

    def note(self) -> None:
        self.stats.requests += 1
        self.stats.last_ms = int(self.clock() * 1000)
        with contextlib.suppress(OSError):
            self.stats.save(self.stats_path)

    def refusal(self, request: Request) -> Response | None:
        host = request.headers.get("host", "")
        name = host.partition("]")[0] + "]" if host.startswith("[") else host.split(":")[0]
        if self.loopback and name not in LOOPBACK_NAMES:
            return _text(400, "invalid Host header: this receiver answers to localhost only")
        if self.token:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self.token.encode()
            ):
                return _text(
                    401,
                    "missing or wrong bearer token: set OTEL_EXPORTER_OTLP_HEADERS="
                    "'Authorization=Bearer <token>'",
                )
        return None

    async def publish(self, usages: list[Usage]) -> None:
        for u in usages:
            await self.js.publish(
                subject(self.prefix, "usage", u.machine),
                encode(u),
                headers={"Nats-Msg-Id": u.event_id},
                timeout=PUBLISH_TIMEOUT_S,
            )


def _text(status: int, line: str) -> Response:
    return Response(line + "\n", status, media_type="text/plain; charset=utf-8")


def _reply(message: Any, content_type: str) -> Response:
    if "json" in content_type.lower():
        from google.protobuf import json_format

        return Response(json_format.MessageToJson(message), media_type="application/json")
    return Response(message.SerializeToString(), media_type=PROTOBUF)


async def _body(request: Request) -> bytes:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise BadPayload(f"body larger than {MAX_BODY // (1024 * 1024)} MiB")
    encoding = request.headers.get("content-encoding", "").lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(raw)
        if encoding == "deflate":
            return zlib.decompress(raw)
    except (OSError, zlib.error, EOFError) as err:
        raise BadPayload(f"body is not valid {encoding}") from err
    if encoding not in ("", "identity"):
        raise BadPayload(f"unsupported Content-Encoding {encoding!r}")
    return raw


def _content_type(request: Request) -> str:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in (PROTOBUF, "application/json"):
        raise BadPayload(f"Content-Type must be {PROTOBUF} or application/json, not {kind!r}")
    return kind


def build_receiver_app(r: Receiver) -> Starlette:
    async def logs(request: Request) -> Response:
        refused = r.refusal(request)
        if refused is not None:
            return refused
        try:
            kind = _content_type(request)
            decoded = decode_logs(await _body(request), kind, r.machine, r.account)
        except BadPayload as err:
            _add(r.stats.bad_payloads, "logs: " + str(err).split(":")[0])
            r.note()
            return _text(400, str(err))
        try:
            await r.publish(decoded.usages)
        except (TimeoutError, nats.errors.Error) as err:
            return _text(503, f"the hub did not acknowledge the events: {err or 'timeout'}")
        r.stats.log_records += decoded.records
        r.stats.usage_events += len(decoded.usages)
        for reason, n in decoded.rejected.items():
            _add(r.stats.rejected, reason, n)
        r.note()
        response = ExportLogsServiceResponse()
        if decoded.rejected:
            response.partial_success.rejected_log_records = sum(decoded.rejected.values())
            response.partial_success.error_message = "; ".join(sorted(decoded.rejected))
        return _reply(response, kind)

    async def metrics(request: Request) -> Response:
        refused = r.refusal(request)
        if refused is not None:
            return refused
        try:
            kind = _content_type(request)
            points = count_metric_points(await _body(request), kind)
        except BadPayload as err:
            _add(r.stats.bad_payloads, "metrics: " + str(err).split(":")[0])
            r.note()
            return _text(400, str(err))
        r.stats.metric_points += points
        r.note()
        return _reply(ExportMetricsServiceResponse(), kind)

    return Starlette(
        routes=[
            Route("/v1/logs", logs, methods=["POST"]),
            Route("/v1/metrics", metrics, methods=["POST"]),
        ]
    )


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) from the config key or the option."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ValueError(f"invalid OTLP listen address {value!r}: use host:port")
    return host.strip("[]"), int(port)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class _FollowsStop(uvicorn.Server):
    """`up` owns the signals (its ``stop`` event); this server only follows ``stop``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_receiver(r: Receiver, sock: socket.socket, stop: asyncio.Event) -> None:
    """Serve until ``stop``; the socket is bound by the caller (a taken port is its error)."""
    config = uvicorn.Config(
        build_receiver_app(r),
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        http="h11",
        server_header=False,
        timeout_graceful_shutdown=3,
    )
    server = _FollowsStop(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
