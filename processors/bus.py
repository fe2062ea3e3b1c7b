"""The bus: the only module that knows stream and consumer configuration and how to connect.

Facts (usage, hook, limit, plan) live in one file-backed stream kept forever by default: it is
the record after Claude Code deletes its transcripts. Heartbeats live in a stream that keeps
only the latest message per machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError
from usagectl.projections.events import DEFAULT_PREFIX

FACT_KINDS = ("usage", "hook", "limit", "plan")
DUPLICATE_WINDOW_S = 600.0
CONNECT_TIMEOUT_S = 10.0


class BusUnavailable(Exception):
    """The hub could not be reached or refused us; the message says which and where."""

    user_facing = True


@dataclass(frozen=True)
class BusSettings:
    """Where the hub is and how to authenticate: the seam for credentials and TLS."""

    url: str
    prefix: str = DEFAULT_PREFIX
    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds_file: str | None = None
    nkey_seed_file: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    retention_days: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def stream(self) -> str:
        return self.prefix.upper().replace(".", "_").replace("-", "_")

    @property
    def heartbeat_stream(self) -> str:
        return self.stream + "_HEARTBEAT"


def _connect_options(settings: BusSettings, service: bool) -> dict[str, Any]:
    options: dict[str, Any] = {
        "servers": [u.strip() for u in settings.url.split(",") if u.strip()],
        "connect_timeout": 2,
        "allow_reconnect": True,
        # Services ride out long outages; one-shot commands give up quickly with a clear line.
        "max_reconnect_attempts": -1 if service else 3,
        "reconnect_time_wait": 1 if service else 0.5,
    }
    if settings.user is not None:
        options["user"] = settings.user
        options["password"] = settings.password
    if settings.token is not None:
        options["token"] = settings.token
    if settings.creds_file is not None:
        options["user_credentials"] = settings.creds_file
    if settings.nkey_seed_file is not None:
        options["nkeys_seed"] = settings.nkey_seed_file
    if settings.tls_ca or settings.tls_cert:
        options["tls"] = _tls_context(settings)
    options.update(settings.extra)
    return options


def _tls_context(settings: BusSettings) -> ssl.SSLContext:
    """Verify the hub against the given CA (else the system's); present a client certificate
    when the hub asks for one (mutual TLS)."""
    try:
        context = ssl.create_default_context(cafile=settings.tls_ca)
        if settings.tls_cert:
            context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as err:
        raise BusUnavailable(f"cannot load TLS files for the hub: {err}") from err
    return context


async def connect(settings: BusSettings, *, service: bool = False) -> Client:
    """Connect with a deadline: an initial connect to a dead server would otherwise block.

    The client's own error ("no servers available") hides why; the server's answer (an
    authorization violation, a TLS failure) is what the user needs to read.
    """
    options = _connect_options(settings, service)
    seen: list[Exception] = []

    async def remember(err: Exception) -> None:
        seen.append(err)

    options.setdefault("error_cb", remember)
    try:
        return await asyncio.wait_for(nats.connect(**options), CONNECT_TIMEOUT_S)
    except (TimeoutError, OSError, nats.errors.Error) as err:
        cause = seen[-1] if seen else err
        detail = str(cause) or type(cause).__name__
        raise BusUnavailable(
            f"cannot reach the NATS hub at {_shown(settings.url)}: {detail}"
        ) from err


def _shown(url: str) -> str:
    """The URL without any password embedded in it."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def fact_subjects(prefix: str) -> list[str]:
    return [f"{prefix}.v1.{kind}.>" for kind in FACT_KINDS]


def _fact_stream_config(settings: BusSettings) -> StreamConfig:
    max_age = settings.retention_days * 86400 if settings.retention_days else None
    window = DUPLICATE_WINDOW_S if max_age is None else min(DUPLICATE_WINDOW_S, max_age)
    return StreamConfig(
        name=settings.stream,
        subjects=fact_subjects(settings.prefix),
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=max_age,
        duplicate_window=window,
        max_msg_size=8 * 1024 * 1024,
        allow_direct=True,
    )


def _heartbeat_stream_config(settings: BusSettings) -> StreamConfig:
    return StreamConfig(
        name=settings.heartbeat_stream,
        subjects=[f"{settings.prefix}.v1.heartbeat.>"],
        storage=StorageType.FILE,
        max_msgs_per_subject=1,
        discard=DiscardPolicy.OLD,
        allow_direct=True,
    )


async def ensure_streams(js: JetStreamContext, settings: BusSettings) -> None:
    for config in (_fact_stream_config(settings), _heartbeat_stream_config(settings)):
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)


async def stream_last_seq(js: JetStreamContext, settings: BusSettings) -> int:
    info = await js.stream_info(settings.stream)
    return int(info.state.last_seq)


async def stream_first_seq(js: JetStreamContext, settings: BusSettings) -> int:
    """The first sequence still stored (last + 1 when the stream is empty)."""
    info = await js.stream_info(settings.stream)
    if not info.state.messages:
        return int(info.state.last_seq) + 1
    return int(info.state.first_seq)


async def stream_identity(js: JetStreamContext, settings: BusSettings) -> tuple[str, int]:
    """What tells a stream from a recreated one of the same name (whose sequences restart),
    and its last sequence."""
    info = await js.stream_info(settings.stream)
    return str(info.created or ""), int(info.state.last_seq)


async def pull_from(
    js: JetStreamContext, settings: BusSettings, durable: str, start_seq: int
) -> JetStreamContext.PullSubscription:
    """A durable pull consumer positioned at ``start_seq``.

    The read model's tracking row is the cursor of record: the consumer is recreated from it on
    every start, so a restored or replayed database never skips or double-applies.
    """
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(settings.stream, durable)
    config = ConsumerConfig(
        durable_name=durable,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=max(start_seq, 1),
        ack_policy=AckPolicy.ALL,
        ack_wait=60,
        max_ack_pending=20_000,
        filter_subjects=fact_subjects(settings.prefix),
    )
    await js.add_consumer(settings.stream, config)
    return await js.pull_subscribe_bind(durable, stream=settings.stream)


async def consumer_lag(js: JetStreamContext, settings: BusSettings, durable: str) -> int | None:
    try:
        info = await js.consumer_info(settings.stream, durable)
    except NotFoundError:
        return None
    return int(info.num_pending or 0) + int(info.num_ack_pending or 0)
