"""The hub's guard: on a hub from `usagectl deploy hub-config`, every JetStream request of a
machine (or reader) passes through the hub's processor.

A NATS permission sees only the subject a client publishes on. Where JetStream delivers stream
messages is not in it: that is a push consumer's deliver subject (inside the create request's
JSON), or the reply subject of a pull request or of an ack with ``+NXT``. Aimed at another
machine's inbox, the hub fills that inbox with messages it never asked for; aimed at another
consumer's own subjects (``$JS.API.CONSUMER.RESET.<stream>.<durable>``, ``...MSG.NEXT...``),
each delivery moves that consumer's cursor or takes its messages, and the other machine's
processor silently skips events. nats-server has no option that looks there.

So a machine may not use JetStream's API itself. It sends each request to
``<prefix>.api.<machine>.<the API subject after $JS.API.>`` (acks to ``...ACK.<after
$JS.ACK.>``), which its permissions let only it publish on, so the subject says who asks. The
guard, with the hub admin's rights, forwards a request only when it touches that machine's own
consumers and delivers only into that machine's inbox; anything else gets a refusal (logged)
and never reaches JetStream, so nothing is delivered anywhere.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from collections import Counter
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import ConsumerConfig

from .bus import DURABLES
from .consumers import installed
from .hubconn import GUARD_REFUSED, JS_ACK, JS_API, BusSettings, api_root, inbox_of
from .ordered import owner_of

QUEUE = "usagectl-guard"
# nats-server reads JSON keys without regard to case (``Deliver_Subject`` is
# ``deliver_subject`` to it): a key not spelled exactly as one of these is refused.
REQUEST_KEYS = frozenset({"stream_name", "config", "action", "pedantic"})
CONFIG_KEYS = frozenset(f.name for f in dataclasses.fields(ConsumerConfig))


@functools.cache
def _plugins() -> tuple[str, ...]:
    return tuple(installed())  # read once: every pull and ack of every member asks


def owned_durables(token: str) -> set[str]:
    """The durables of the member whose subject token is ``token``, as
    ``BusSettings.durable`` and ``consumer_runner.durable_name`` name them (one per plug-in
    consumer installed here, on the hub)."""
    return {f"{base}_{token}" for base in DURABLES} | {f"consumer-{c}-{token}" for c in _plugins()}


def owns(token: str, consumer: str) -> bool:
    return consumer in owned_durables(token) or owner_of(consumer) == token


def _what(op: str) -> tuple[str, str, str] | None:
    """(kind, stream, consumer) of an API subject (after the member's prefix) that a member
    may send at all; None for every other (stream changes, listings, the unnamed create)."""
    match op.split("."):
        case ["STREAM", "INFO", stream] | ["STREAM", "MSG", "GET", stream]:
            return "read", stream, ""
        case ["CONSUMER", "CREATE", stream, consumer, *_]:
            return "create", stream, consumer
        case ["CONSUMER", "DURABLE", "CREATE", stream, consumer]:
            return "create", stream, consumer
        case ["CONSUMER", "INFO" | "DELETE", stream, consumer]:
            return "manage", stream, consumer
        case ["CONSUMER", "MSG", "NEXT", stream, consumer]:
            return "pull", stream, consumer
        case ["ACK", stream, consumer, _, *_]:
            return "ack", stream, consumer
    return None


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError("a key given twice")
    return dict(pairs)


def _create_refusal(body: bytes, inbox: str) -> str | None:
    try:
        request = json.loads(body, object_pairs_hook=_unique)
    except ValueError as err:
        return f"not a consumer request ({err})"
    config = request.get("config") if isinstance(request, dict) else None
    if not isinstance(config, dict):
        return "not a consumer request (no config)"
    unknown = (set(request) - REQUEST_KEYS) | (set(config) - CONFIG_KEYS)
    if unknown:
        return f"unknown keys {', '.join(sorted(unknown))}"
    deliver = config.get("deliver_subject")
    if deliver and not (isinstance(deliver, str) and deliver.startswith(inbox + ".")):
        return f"deliver subject {deliver} outside its inbox {inbox}"
    return None


def refusal(settings: BusSettings, token: str, op: str, reply: str, body: bytes) -> str | None:
    """Why the member ``token`` may not send ``op`` with this reply subject and body; None
    when the guard forwards it."""
    inbox = inbox_of(token)
    if reply and not reply.startswith(inbox + "."):
        return f"reply subject {reply} outside its inbox {inbox}"
    what = _what(op)
    if what is None:
        return f"{op} is not for machines"
    kind, stream, consumer = what
    if stream not in (settings.stream, settings.heartbeat_stream):
        return f"stream {stream} is not usagectl's"
    if kind == "read":
        return None
    if not owns(token, consumer):
        return f"the consumer {consumer} is not its own"
    if kind == "pull" and not reply:
        return "a pull request without a reply subject"
    return _create_refusal(body, inbox) if kind == "create" else None


class Guard:
    """Forwards each member's JetStream requests that ``refusal`` lets through; answers the
    rest with a JetStream error (code 403) that the member's client raises."""

    def __init__(self, nc: Client, settings: BusSettings) -> None:
        self.nc = nc
        self.settings = settings
        self.refused: Counter[str] = Counter()
        self._root = api_root(settings.prefix) + "."
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.nc.subscribe(self._root + "*.>", queue=QUEUE, cb=self._on_request)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_request(self, msg: Msg) -> None:
        token, _, op = msg.subject[len(self._root) :].partition(".")
        why = refusal(self.settings, token, op, msg.reply, msg.data)
        if why is None:
            target = JS_ACK + op[4:] if op.startswith("ACK.") else f"{JS_API}.{op}"
            # Without the member's headers: only the server vouches for who is asking.
            await self.nc.publish(target, msg.data, reply=msg.reply)
            return
        self._log(token, op, why)
        if msg.reply.startswith(inbox_of(token) + "."):
            error = {
                "code": GUARD_REFUSED,
                "err_code": 0,
                "description": f"refused by the hub's guard: {why}",
            }
            await self.nc.publish(msg.reply, json.dumps({"error": error}).encode())

    def _log(self, token: str, op: str, why: str) -> None:
        """The first refusal of each member, then every 100th: a member sending refused
        requests in a loop does not fill the hub's log."""
        self.refused[token] += 1
        n = self.refused[token]
        if n == 1 or n % 100 == 0:
            print(
                f"usagectl: the hub's guard refused {op} from {token!r} ({why}); "
                f"{n} refused from it so far",
                file=sys.stderr,
                flush=True,
            )
