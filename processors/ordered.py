"""Ordered consumers under names of their own.

nats-py creates an ordered consumer through JetStream's unnamed create API. Through that API
anyone may send a config naming an existing durable, and the hub takes it as an update of
that durable: one machine could point another machine's processor at nothing. So a hub's
users may not use it (`deploy hub-config`), and ordered consumers are created by name, a
fresh random one each time nats-py recreates them after a gap (a name reused would be an
update of the consumer left behind, which JetStream refuses). The name ends with its
owner's subject token, so the hub's guard (`hubguard`) knows whose it is.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from nats.nuid import NUID
from usagectl.projections.events import encode_token

_nuid = NUID()
_NAME = re.compile(r"o[0-9A-Za-z]{22}_(?P<token>.+)")  # a nuid is 22 such characters


def ephemeral_name(owner: str) -> str:
    return f"o{_nuid.next().decode()}_{encode_token(owner)}"


def owner_of(name: str) -> str | None:
    """The subject token of the member that named an ordered consumer so; None if not one."""
    found = _NAME.fullmatch(name)
    return found["token"] if found else None


async def ordered(
    js: JetStreamContext,
    subject: str,
    stream: str,
    config: ConsumerConfig,
    cb: Callable[[Msg], Awaitable[None]] | None = None,
    *,
    owner: str,
) -> JetStreamContext.PushSubscription:
    """``owner``: this reader's identity (``BusSettings.identity``)."""
    config.name = ephemeral_name(owner)
    sub = await js.subscribe(subject, stream=stream, cb=cb, ordered_consumer=True, config=config)
    _rename_on_reset(sub, owner)
    return sub


def _rename_on_reset(sub: Any, owner: str) -> None:
    # nats-py keeps the consumer request and sends it again on a reset; give it a new name
    # first. Its internals may change: without them, resets keep the old name (and fail).
    jsi = getattr(sub, "_jsi", None)
    recreate = getattr(jsi, "recreate_consumer", None)
    request = getattr(jsi, "_ccreq", None)
    if jsi is None or recreate is None or request is None:
        return

    async def renamed() -> None:
        jsi._ccreq.name = ephemeral_name(owner)
        await recreate()

    jsi.recreate_consumer = renamed
