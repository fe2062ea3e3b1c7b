"""`up --otlp`: the OTLP/HTTP receiver beside the producer, on the same hub connection."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

from nats.js import JetStreamContext

from .errors import UserError
from .settings import Settings


@contextlib.asynccontextmanager
async def otlp_receiver(
    settings: Settings, js: JetStreamContext, prefix: str, stop: asyncio.Event
) -> AsyncIterator[str | None]:
    """Runs the receiver while the block runs (when enabled); yields its URL, or None."""
    if not settings.otlp_enabled:
        yield None
        return
    from usagectl.processors.app.access import access_token, is_loopback
    from usagectl.producers.otlp_receiver import Receiver, bind, parse_listen, serve_receiver

    try:
        host, port = parse_listen(settings.otlp_listen)
    except ValueError as err:
        raise UserError(f"otlp.listen: {err}") from None
    try:
        sock = bind(host, port)
    except OSError as err:
        raise UserError(f"cannot listen for OTLP on {host}:{port}: {err.strerror or err}") from None
    loopback = is_loopback(host)
    # The same token as `serve` off loopback: one secret per machine's HTTP endpoints.
    token = None if loopback else access_token(settings.home)
    receiver = Receiver(
        js,
        prefix,
        settings.machine,
        settings.account,
        settings.home / "otlp-stats.json",
        token,
        loopback,
    )
    task = asyncio.create_task(serve_receiver(receiver, sock, stop))
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}"
    print(
        f"receiving Claude Code's OpenTelemetry at {url}/v1/logs and /v1/metrics",
        file=sys.stderr,
        flush=True,
    )
    try:
        yield url
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
