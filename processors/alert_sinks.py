"""Where alerts go: the log, the desktop, a webhook, a NATS subject; and the delivery loop that
empties the outbox after each commit, with retries and exponential backoff.

Webhook URLs are secrets (a Slack or Discord URL is its own credential): they are only ever
shown as ``scheme://host/***``, and no error message carries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import platform
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import nats.errors
from nats.aio.client import Client

from . import alert_store as store
from .alert_config import Sink
from .alert_store import Due
from .masking import mask_url

MAX_BACKOFF_S = 3600.0
RETRYABLE_HTTP = (408, 425, 429, 500, 502, 503, 504)


class DeliveryError(Exception):
    """A send failed; ``permanent`` ones are not retried (a 404 will not heal by itself)."""

    def __init__(self, message: str, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


def _agent() -> str:
    try:
        return f"usagectl/{version('usagectl')}"
    except PackageNotFoundError:
        return "usagectl"


def desktop_command(title: str, text: str) -> list[str] | None:
    """notify-send (Linux, BSD) or osascript (macOS); None where the OS offers neither."""
    if platform.system() == "Darwin" and shutil.which("osascript"):

        def quoted(s: str) -> str:
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

        script = f"display notification {quoted(text)} with title {quoted(title)}"
        return ["osascript", "-e", script]
    if shutil.which("notify-send"):
        return ["notify-send", "--app-name=usagectl", title, text]
    return None


def unavailable(sink: Sink) -> str | None:
    if sink.type == "desktop" and desktop_command("", "") is None:
        return "no desktop notifier here (notify-send or osascript)"
    return None


def _http_post(sink: Sink, body: bytes, key: str) -> int:
    assert sink.url is not None
    request = urllib.request.Request(
        sink.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "User-Agent": _agent(),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=sink.timeout_s) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        retry_after = err.headers.get("Retry-After") if err.headers else None
        wait = float(retry_after) if retry_after and retry_after.isdigit() else None
        raise DeliveryError(f"HTTP {err.code}", err.code not in RETRYABLE_HTTP, wait) from None
    except urllib.error.URLError as err:
        raise DeliveryError(f"unreachable: {_reason(err.reason, sink.url)}") from None
    except (OSError, ValueError) as err:
        raise DeliveryError(f"failed: {_reason(err, sink.url)}") from None


def _reason(err: object, url: str) -> str:
    text = str(getattr(err, "strerror", None) or err) or type(err).__name__
    return text.replace(url, mask_url(url, secret_path=True))


async def send(sink: Sink, body: dict[str, Any], nc: Client | None, prefix: str) -> str:
    """One alert through one sink; returns a short note, raises DeliveryError."""
    text = str(body.get("text", ""))
    if sink.type == "log":
        print(f"usagectl alert: {text}", file=sys.stderr, flush=True)
        return "logged"
    if sink.type == "webhook":
        data = json.dumps(body, separators=(",", ":")).encode()
        status = await asyncio.to_thread(_http_post, sink, data, str(body.get("id", "")))
        return f"HTTP {status}"
    if sink.type == "desktop":
        command = desktop_command(f"usagectl: {body.get('rule', '')}", text)
        if command is None:
            raise DeliveryError("no desktop notifier here (notify-send or osascript)", True)
        proc = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            code = await asyncio.wait_for(proc.wait(), sink.timeout_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise DeliveryError(f"{command[0]} timed out") from None
        if code != 0:
            raise DeliveryError(f"{command[0]} exited with {code}")
        return command[0]
    if nc is None or not nc.is_connected:
        raise DeliveryError("not connected to the hub")
    subject = f"{prefix}.v1.alert.{body.get('rule', 'test')}"  # rule names are safe tokens
    try:
        await nc.publish(
            subject,
            json.dumps(body, separators=(",", ":")).encode(),
            headers={"Usagectl-Alert-Id": str(body.get("id", ""))},
        )
        await nc.flush(timeout=5)
    except (TimeoutError, nats.errors.Error) as err:
        raise DeliveryError(f"publish failed: {err or type(err).__name__}") from None
    return subject


def describe(sink: Sink, prefix: str) -> str:
    """How a sink is named in logs and `alerts test`: never with a webhook's URL."""
    if sink.type == "webhook":
        return f"{sink.name} ({mask_url(sink.url, secret_path=True)})"
    if sink.type == "nats":
        return f"{sink.name} ({prefix}.v1.alert.<rule>)"
    return sink.name


def backoff_s(sink: Sink, attempts: int, retry_after: float | None) -> float:
    wait = min(MAX_BACKOFF_S, sink.backoff_s * float(2 ** max(0, attempts - 1)))
    return max(wait, retry_after or 0.0)


@dataclass
class Deliverer:
    """Empties the outbox for each sink: one worker per sink, so a slow webhook holds up only
    itself. Each outcome is recorded in its own transaction right after the send."""

    sinks: tuple[Sink, ...]
    db: Callable[[Callable[..., Any]], Awaitable[Any]]
    nc: Client | None
    prefix: str
    log: Callable[[str], None]

    async def run(self, stop: asyncio.Event, committed: asyncio.Event) -> None:
        wakes = {s.name: asyncio.Event() for s in self.sinks}
        workers = [asyncio.create_task(self._worker(s, stop, wakes[s.name])) for s in self.sinks]
        try:
            while not stop.is_set():
                for wake in wakes.values():
                    wake.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_either(stop, committed), 1.0)
                committed.clear()
        finally:
            for wake in wakes.values():
                wake.set()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self, sink: Sink, stop: asyncio.Event, wake: asyncio.Event) -> None:
        while not stop.is_set():
            await wake.wait()
            wake.clear()
            now = int(time.time() * 1000)
            for item in await self.db(lambda c, s=sink.name, t=now: store.due(c, s, t)):
                if stop.is_set():
                    return
                await self._deliver(sink, item)

    async def _deliver(self, sink: Sink, item: Due) -> None:
        try:
            await send(sink, item.payload, self.nc, self.prefix)
        except DeliveryError as failed:
            err, error = failed, str(failed)
            attempts = item.attempts + 1
            give_up = err.permanent or attempts > sink.retries
            wait = backoff_s(sink, attempts, err.retry_after)
            next_ms = None if give_up else int(time.time() * 1000 + wait * 1000)
            what = "giving up" if give_up else f"retry {attempts} in {wait:.0f}s"
            self.log(f"alert {item.alert_id} to {describe(sink, self.prefix)}: {err}; {what}")
            await self.db(lambda c: store.mark_failure(c, item, error, next_ms))
            return
        sent_ms = int(time.time() * 1000)
        await self.db(lambda c: store.mark_sent(c, item, sent_ms))


async def _either(stop: asyncio.Event, committed: asyncio.Event) -> None:
    tasks = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(committed.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
