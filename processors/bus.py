"""The bus: the only module that knows stream and consumer configuration and how to connect.

Facts (usage, hook, limit, plan) live in one file-backed stream kept forever by default: it is
the record after Claude Code deletes its transcripts. Heartbeats live in a stream that keeps
only the latest message per machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StoreCompression,
    StreamConfig,
)
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError
from usagectl.projections.events import Event, UsageBatch, encode_token, subject

from .hubconn import (
    JS_ACK,
    BusSettings,
    BusUnavailable,
    Refused,
    check_publish,
    connect,
    refusable,
)

FACT_KINDS = ("usage", "hook", "limit", "plan")
DUPLICATE_WINDOW_S = 600.0
# The durable consumers a reader keeps (each suffixed with its machine: `BusSettings.durable`);
# a hub's per-machine permissions (cli/hubconfig.py) allow exactly these.
DURABLES = ("processor", "replay")
PROBE_KIND = "probe"  # a subject of each machine that no stream stores (see check_publish)

__all__ = [
    "DURABLES",
    "BusSettings",
    "BusUnavailable",
    "Refused",
    "ack_sync",
    "connect",
    "consumer_lag",
    "delete_durable",
    "ensure_streams",
    "fact_subjects",
    "from_its_machine",
    "jetstream",
    "may_publish_as",
    "pull_from",
    "stream_identity",
    "stream_last_seq",
]


ACK_WAIT_S = 1.0


def jetstream(nc: Client, settings: BusSettings, **options: Any) -> JetStreamContext:
    """A JetStream context whose API requests go where ``settings`` says: straight to
    JetStream, or through the hub's guard (`hubguard`)."""
    return nc.jetstream(prefix=settings.api, **options)


async def ack_sync(msg: Msg, settings: BusSettings) -> None:
    """Ack ``msg`` and wait for the hub's answer; through the guard when there is one (an
    ack's reply subject is where ``+NXT`` delivers, so it is vetted like a pull request's)."""
    if not settings.guarded or not msg.reply.startswith(JS_ACK):
        await msg.ack_sync(timeout=ACK_WAIT_S)
        return
    target = f"{settings.api}.ACK.{msg.reply[len(JS_ACK) :]}"
    # The connection a message came on, as nats-py's own Msg.ack_sync uses it.
    await msg._client.request(target, b"+ACK", timeout=ACK_WAIT_S)


@functools.lru_cache(maxsize=1024)
def _token(machine: str) -> str:
    return encode_token(machine)


def from_its_machine(msg_subject: str, event: Event) -> bool:
    """Whether an event names the machine whose subject it came on.

    The subject is what a hub's permissions vouch for (a machine may publish only on its own);
    a payload claiming another machine is not believed.
    """
    token = msg_subject.rsplit(".", 1)[-1]
    if isinstance(event, UsageBatch):
        return all(_token(e.machine) == token for e in event.events)
    return _token(event.machine) == token


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
        num_replicas=settings.replicas or 1,
        # Events repeat paths, ids and field names: S2 stores them in about a third of the
        # bytes for a few percent of the server's CPU (nats-server 2.10+; an update turns it
        # on for an existing stream's new blocks).
        compression=StoreCompression.S2,
    )


def _heartbeat_stream_config(settings: BusSettings) -> StreamConfig:
    return StreamConfig(
        name=settings.heartbeat_stream,
        subjects=[f"{settings.prefix}.v1.heartbeat.>"],
        storage=StorageType.FILE,
        max_msgs_per_subject=1,
        discard=DiscardPolicy.OLD,
        allow_direct=True,
        num_replicas=settings.replicas or 1,
    )


def _differs(have: StreamConfig, want: StreamConfig, replicas: int | None) -> bool:
    """Whether an existing stream lacks what we would configure (the server fills defaults).
    Replicas count only when configured: a machine that did not say keeps the hub's."""
    if replicas is not None and int(have.num_replicas or 1) != replicas:
        return True
    return (
        sorted(have.subjects or []) != sorted(want.subjects or [])
        or float(have.max_age or 0) != float(want.max_age or 0)
        or float(have.duplicate_window or 0) != float(want.duplicate_window or 120)
        or int(have.max_msgs_per_subject or -1) != int(want.max_msgs_per_subject or -1)
        or int(have.max_msg_size or -1) != int(want.max_msg_size or -1)
        or _compression(have) != _compression(want)
    )


def _compression(config: StreamConfig) -> str:
    value = config.compression
    return str(getattr(value, "value", value) or "none")


ELECTION_RETRIES = 6  # x 0.5, 1, 2, 2, 2 s: past a cluster's leader election


async def ensure_streams(js: JetStreamContext, settings: BusSettings) -> None:
    """``_ensure_streams``, riding out a cluster's leader election ("no responders", silence)."""
    for attempt in range(ELECTION_RETRIES):
        try:
            await _ensure_streams(js, settings)
            return
        except (TimeoutError, ServiceUnavailableError, nats.errors.NoRespondersError) as err:
            if attempt == ELECTION_RETRIES - 1 and settings.guarded:
                raise BusUnavailable(
                    f"nothing on the hub at {settings.safe_url} answers this machine's "
                    "JetStream requests (the hub's processor vets them): start `usagectl "
                    "processor` on the hub with its admin user first"
                ) from None
            if attempt == ELECTION_RETRIES - 1:
                raise BusUnavailable(
                    f"the hub at {settings.safe_url} does not answer JetStream requests "
                    f"({type(err).__name__}): is JetStream on, and does the cluster have a "
                    "quorum?"
                ) from None
            await asyncio.sleep(min(0.5 * 2**attempt, 2))


async def _ensure_streams(js: JetStreamContext, settings: BusSettings) -> None:
    """Create the streams, or bring them to our configuration.

    On a hub with permissions only its admin may do that: a machine's user may read a
    stream's state but not create, change or delete it. A machine that finds the streams
    missing says who must create them; one that finds them configured differently (another
    retention, more replicas) uses them as the hub's admin set them.
    """
    for config in (_fact_stream_config(settings), _heartbeat_stream_config(settings)):
        name = str(config.name)
        try:
            info = await refusable(js, js.stream_info(name), f"read the state of stream {name}")
        except NotFoundError:
            try:
                await refusable(js, js.add_stream(config), f"create the stream {name}")
            except Refused:
                raise BusUnavailable(
                    f"the hub has no stream {name} yet and these credentials may not create "
                    "it: start `usagectl processor` on the hub with its admin user first"
                ) from None
            except ServiceUnavailableError:
                raise  # an election: ensure_streams asks again
            except APIError as err:  # e.g. 3 replicas on a hub that is not a cluster
                raise BusUnavailable(
                    f"the hub refused the stream {name}: {err.description or err}"
                ) from None
            continue
        if _differs(info.config, config, settings.replicas):
            if settings.replicas is None:
                config.num_replicas = info.config.num_replicas  # an update keeps them
            # Only the hub's admin may change a stream; everyone else uses it as it is.
            try:
                await refusable(js, js.update_stream(config), f"update the stream {name}")
            except Refused:
                pass
            except ServiceUnavailableError:
                raise
            except APIError as err:
                raise BusUnavailable(
                    f"the hub refused to change the stream {name}: {err.description or err}"
                ) from None


async def may_publish_as(nc: Client, settings: BusSettings, machine: str) -> None:
    """Fail plainly, before anything is published, if these credentials may not publish as
    ``machine`` (a hub with per-machine permissions refuses another machine's subjects)."""
    await check_publish(nc, settings, subject(settings.prefix, PROBE_KIND, machine), machine)


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
    js: JetStreamContext,
    settings: BusSettings,
    durable: str,
    start_seq: int,
    *,
    subjects: list[str] | None = None,
    named: bool = False,
) -> JetStreamContext.PullSubscription:
    """A durable pull consumer positioned at ``start_seq``, on ``subjects`` (default: every
    fact).

    The reader's tracking row is the cursor of record: the consumer is recreated from it on
    every start, so a restored or replayed database never skips or double-applies. Its name
    carries this reader's machine (``processor_<machine>``), or is exactly ``durable`` when
    ``named``: readers sharing a hub never delete each other's cursor.
    """
    name = durable if named else settings.durable(durable)
    await delete_durable(js, settings, name, named=True)
    config = ConsumerConfig(
        durable_name=name,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=max(start_seq, 1),
        ack_policy=AckPolicy.ALL,
        ack_wait=60,
        max_ack_pending=20_000,
        filter_subjects=subjects or fact_subjects(settings.prefix),
    )
    await refusable(js, js.add_consumer(settings.stream, config), f"create the consumer {name}")
    return await js.pull_subscribe_bind(name, stream=settings.stream)


async def resume_seq(js: JetStreamContext, settings: BusSettings, tracked: int) -> tuple[int, int]:
    """Where a reader whose cursor is ``tracked`` continues, and how many messages it missed.

    A hub that lost its unsynced tail reuses those sequences for what producers resend: never
    past the stream's end. Messages purged (archived) or aged out before the reader got them
    cannot come any more, and waiting for them would never end: never before the stream's
    first. What they held is in the archive, if anywhere.
    """
    _, end = await stream_identity(js, settings)
    seq = min(tracked, end)
    first = await stream_first_seq(js, settings)
    return max(seq, first - 1), max(0, first - 1 - seq)


async def delete_durable(
    js: JetStreamContext, settings: BusSettings, durable: str, *, named: bool = False
) -> None:
    name = durable if named else settings.durable(durable)
    with contextlib.suppress(NotFoundError):
        await refusable(js, js.delete_consumer(settings.stream, name), f"delete consumer {name}")


async def consumer_lag(
    js: JetStreamContext, settings: BusSettings, durable: str, *, named: bool = False
) -> int | None:
    """Messages ``durable`` has yet to read: this reader's (``processor`` ->
    ``processor_<machine>``), or, ``named``, the durable of exactly that name."""
    name = durable if named else settings.durable(durable)
    try:
        info = await js.consumer_info(settings.stream, name)
    except NotFoundError:
        return None
    return int(info.num_pending or 0) + int(info.num_ack_pending or 0)
