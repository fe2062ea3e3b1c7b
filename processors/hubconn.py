"""Connecting to the hub: credentials, TLS, a bounded first connect, and refusals made plain.

A hub with permissions says "no" asynchronously: the server answers a forbidden publish or
subscription with an ``-ERR`` line that nats-py hands to ``error_cb``, while the request that
caused it just waits for a reply that never comes. Every connection made here records those
refusals, so a caller can fail at once with the server's reason instead of timing out.
Nothing in a message built here carries a password, a token or a seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import weakref
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import nats.errors
from nats.aio.client import Client
from nats.js.errors import APIError
from usagectl.projections.events import DEFAULT_PREFIX, encode_token

from .masking import mask_url

CONNECT_TIMEOUT_S = 10.0
CONNECT_ROUNDS = 3  # a hub that is down or restarting gets this many passes over its URLs
JS_API = "$JS.API"
JS_ACK = "$JS.ACK."
GUARD_REFUSED = 403  # the code of a refusal from the hub's guard (`hubguard`)
T = TypeVar("T")


class BusUnavailable(Exception):
    """The hub could not be reached or refused us; the message says which and where."""

    user_facing = True


class Refused(BusUnavailable):
    """The hub refused an operation these credentials are not allowed to do."""

    def __init__(self, message: str, subject: str) -> None:
        super().__init__(message)
        self.subject = subject


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
    replicas: int | None = None  # None: 1 for a new stream, an existing one's are kept
    # Who reads: names this reader's durable consumers, so machines sharing a hub never take
    # each other's cursor, and (with permissions) the private inbox its replies come to.
    identity: str = ""
    inbox_prefix: str | None = None
    # JetStream requests go through the hub's guard (`hubguard`), not to $JS.API directly.
    guarded: bool = False

    @property
    def stream(self) -> str:
        return self.prefix.upper().replace(".", "_").replace("-", "_")

    @property
    def heartbeat_stream(self) -> str:
        return self.stream + "_HEARTBEAT"

    def durable(self, base: str) -> str:
        """This reader's name for a durable consumer (``processor`` -> ``processor_<machine>``)."""
        return f"{base}_{encode_token(self.identity)}" if self.identity else base

    @property
    def safe_url(self) -> str:
        return mask_url(self.url)

    @property
    def api(self) -> str:
        """Where this reader's JetStream requests go."""
        return api_prefix(self.prefix, self.identity) if self.guarded else JS_API


def api_root(prefix: str) -> str:
    """Every member's guarded JetStream API lives under ``<prefix>.api.<member>``."""
    return f"{prefix}.api"


def api_prefix(prefix: str, identity: str) -> str:
    return f"{api_root(prefix)}.{encode_token(identity)}"


def inbox_of(token: str) -> str:
    return f"_INBOX_{token}"


def default_inbox_prefix(identity: str) -> str:
    """``_INBOX_<machine>``: what a hub's permissions let this machine subscribe to."""
    return inbox_of(encode_token(identity))


_DENIED = re.compile(r"permissions violation for (publish|subscription) to \"?([^\"']*)", re.I)


class _Watch:
    """What the server refused on one connection, and whether the first connect is going on."""

    def __init__(self, identity: str, inbox: str, api: str | None) -> None:
        self.identity = identity
        self.inbox = inbox
        self.api = api  # where its JetStream requests go, when through the hub's guard
        self.denied: list[tuple[str, str]] = []
        self.changed = asyncio.Event()
        self.connecting = True
        self.last_error: BaseException | None = None

    async def on_error(self, err: Exception) -> None:
        found = _DENIED.search(str(err))
        if found:
            self.denied.append((found.group(1).lower(), found.group(2)))
            self.changed.set()
            return
        self.last_error = err
        if self.connecting and _hopeless(err):
            raise _Hopeless(err)  # out of nats-py's connect loop: retrying cannot help


class _Hopeless(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _hopeless(err: BaseException) -> bool:
    """Wrong credentials or a certificate the other side rejects: same answer every time."""
    text = str(err).lower()
    return (
        isinstance(err, nats.errors.AuthorizationError | ssl.SSLError)
        or "authorization violation" in text
        or "authentication" in text
    )


_WATCHES: weakref.WeakKeyDictionary[Any, _Watch] = weakref.WeakKeyDictionary()


def _connect_options(settings: BusSettings, watch: _Watch) -> dict[str, Any]:
    options: dict[str, Any] = {
        "servers": [u.strip() for u in settings.url.split(",") if u.strip()],
        "connect_timeout": 2,
        "allow_reconnect": True,
        # The first connect tries each URL twice per round; services reconnect for ever later.
        "max_reconnect_attempts": 1,
        "reconnect_time_wait": 0.5,
        "error_cb": watch.on_error,
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
    if settings.tls_ca or settings.tls_cert or settings.tls_key:
        options["tls"] = _tls_context(settings)
    if settings.inbox_prefix:
        options["inbox_prefix"] = settings.inbox_prefix
    options.update(settings.extra)
    return options


def _tls_context(settings: BusSettings) -> ssl.SSLContext:
    """Verify the hub against the given CA (else the system's); present a client certificate
    when the hub asks for one (mutual TLS)."""
    if settings.tls_key and not settings.tls_cert:
        raise BusUnavailable("hub.tls_key is set without hub.tls_cert (the client certificate)")
    try:
        context = ssl.create_default_context(cafile=settings.tls_ca)
        if settings.tls_cert:
            context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as err:
        raise BusUnavailable(f"cannot load TLS files for the hub: {err}") from err
    return context


def _describe(err: BaseException) -> str:
    text = str(err).lower()
    if isinstance(err, nats.errors.AuthorizationError) or "authorization violation" in text:
        return "the hub refused these credentials (authorization violation)"
    if isinstance(err, ssl.SSLCertVerificationError):
        return (
            f"the hub's TLS certificate did not verify ({err.verify_message}): "
            "check hub.tls_ca (the CA that signed it)"
        )
    if isinstance(err, ssl.SSLError):
        reason = str(getattr(err, "reason", None) or err)
        if "CERTIFICATE_REQUIRED" in reason.upper():
            return "the hub wants a client certificate (mutual TLS): set hub.tls_cert and tls_key"
        return f"TLS failed ({reason})"
    return str(err) or type(err).__name__


async def connect(settings: BusSettings, *, service: bool = False) -> Client:
    """Connect with a deadline and a bounded number of attempts.

    Wrong credentials or a rejected certificate fail on the first answer (retrying cannot
    help and only hammers the hub); an unreachable hub gets a few rounds. Once connected, a
    service (``up``, ``processor``, ``watch``) rides out outages for ever, one attempt a
    second; a one-shot command gives up after a few.
    """
    guarded = settings.api if settings.guarded else None
    watch = _Watch(settings.identity, settings.inbox_prefix or "_INBOX", guarded)
    options = _connect_options(settings, watch)
    for round_ in range(CONNECT_ROUNDS):
        nc = Client()
        try:
            await asyncio.wait_for(nc.connect(**options), CONNECT_TIMEOUT_S)
        except _Hopeless as err:
            await _discard(nc)
            why = _describe(err.cause)
            if why.startswith("the hub refused these credentials") and not _has_credentials(
                settings
            ):
                why = (
                    "the hub wants credentials and none are configured (hub.user and "
                    "hub.password, hub.token, hub.nkey_seed or hub.creds in config.toml)"
                )
            raise BusUnavailable(
                f"cannot connect to the NATS hub at {settings.safe_url}: {why}"
            ) from None
        except (TimeoutError, OSError, nats.errors.Error) as err:
            await _discard(nc)
            cause = watch.last_error or err
            if round_ + 1 < CONNECT_ROUNDS:
                await asyncio.sleep(0.5 * (round_ + 1))
                continue
            raise BusUnavailable(
                f"cannot reach the NATS hub at {settings.safe_url}: {_describe(cause)}"
            ) from None
        watch.connecting = False
        nc.options["max_reconnect_attempts"] = -1 if service else 3
        nc.options["reconnect_time_wait"] = 1 if service else 0.5
        _WATCHES[nc] = watch
        return nc
    raise AssertionError("unreachable")  # pragma: no cover


def _has_credentials(settings: BusSettings) -> bool:
    given = (
        settings.user,
        settings.token,
        settings.creds_file,
        settings.nkey_seed_file,
        settings.tls_cert,
    )
    return any(given) or "@" in settings.url


async def _discard(nc: Client) -> None:
    with contextlib.suppress(Exception):  # a half-made connection: closed best effort
        await asyncio.wait_for(nc.close(), 2)


def _watch_of(conn: Any) -> _Watch | None:
    """The refusal record of a Client, or of the Client behind a JetStreamContext."""
    try:
        return _WATCHES.get(getattr(conn, "_nc", conn))
    except TypeError:
        return None


async def refusable(conn: Any, request: Awaitable[T], what: str) -> T:
    """Await ``request``; if the hub refuses anything meanwhile, fail at once saying so.

    ``what`` says what was being attempted ("create the stream USAGECTL").
    """
    watch = _watch_of(conn)
    task = asyncio.ensure_future(_guard_refusals(request, what))
    if watch is None:
        return await task
    seen = len(watch.denied)
    while True:
        watch.changed.clear()
        if len(watch.denied) > seen:
            task.cancel()
            kind, subject = watch.denied[seen]
            raise Refused(_refusal(watch, what, kind, subject), subject)
        waiter = asyncio.ensure_future(watch.changed.wait())
        done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            waiter.cancel()
            return task.result()


async def _guard_refusals(request: Awaitable[T], what: str) -> T:
    try:
        return await request
    except APIError as err:
        if err.code != GUARD_REFUSED:
            raise
        raise Refused(
            f"the hub does not allow these credentials to {what} ({err.description})", ""
        ) from None


def _refusal(watch: _Watch, what: str, kind: str, subject: str) -> str:
    """The server lowercases the subjects it names; what we asked for says it better."""
    if kind == "subscription" and subject.startswith(watch.inbox.lower()):
        return (
            f"the hub does not allow these credentials to receive replies on {watch.inbox} "
            f"(the inbox of machine {watch.identity!r}): check `machine` in config.toml (or "
            "USAGECTL_MACHINE) against the user the hub gave this machine, or hub.inbox_prefix"
        )
    if kind == "publish" and watch.api and subject.startswith(watch.api.lower() + "."):
        return (
            f"the hub does not allow these credentials to publish as machine "
            f"{watch.identity!r} (its JetStream requests, {watch.api}.>, refused): check "
            "`machine` in config.toml (or USAGECTL_MACHINE) against the user the hub gave "
            "this machine"
        )
    return f"the hub does not allow these credentials to {what} ({kind} refused)"


async def check_publish(nc: Client, settings: BusSettings, subject: str, machine: str) -> None:
    """Prove before publishing anything that these credentials may publish as ``machine``.

    ``subject`` is one of this machine's subjects that no stream stores (a probe): the server
    answers a forbidden publish before the PONG of a PING sent after it.
    """
    watch = _watch_of(nc)
    if watch is None:
        return
    seen = len(watch.denied)
    await nc.publish(subject, b"")
    try:
        # nats-py writes a flush's PING straight to the socket, possibly before the PUB still
        # in its buffer; the second PING surely follows the PUB, and its PONG the refusal.
        await nc.flush(timeout=5)
        await nc.flush(timeout=5)
    except (TimeoutError, nats.errors.Error) as err:
        raise BusUnavailable(f"the hub at {settings.safe_url} did not answer: {err}") from None
    if any(kind == "publish" for kind, _ in watch.denied[seen:]):
        raise Refused(
            f"the hub does not allow these credentials to publish as machine {machine!r} "
            f"(publish to {subject} refused): check `machine` in config.toml (or "
            "USAGECTL_MACHINE) against the user the hub gave this machine",
            subject,
        )
