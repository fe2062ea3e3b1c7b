"""`usagectl serve`: the read models over HTTP, live events and the dashboard page.

The web face contributes this command to the CLI through the ``usagectl.commands`` entry-point
group, so the CLI never imports the web face."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from usagectl.processors.app.errors import UserError
from usagectl.processors.app.settings import load_settings

app = typer.Typer(add_completion=False)


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="address to bind; any but loopback needs the access token")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free one)")] = 8787,
    rate_limit: Annotated[
        float, typer.Option("--rate-limit", help="requests per second per client (0: off)")
    ] = 20.0,
) -> None:
    """The dashboard at /, JSON reports under /api (OpenAPI: /api/openapi.json) and live
    Server-Sent Events at /events, until Ctrl-C. Reads the read model that `up` (or
    `processor`) keeps current; binds 127.0.0.1 unless told otherwise."""
    import asyncio

    from usagectl.processors.app.access import TOKEN_FILE, is_loopback

    from .server import ServeOptions
    from .server import serve as run_server

    if not 0 <= port <= 65535:
        raise UserError(f"invalid --port {port}: 0 to 65535")
    if rate_limit < 0:
        raise UserError("invalid --rate-limit: must be 0 (off) or positive")
    settings = load_settings()
    console = Console(stderr=True)
    burst = max(10, int(rate_limit * 5))

    def ready(url: str) -> None:
        console.print(
            f"usagectl serve: dashboard {url} · API {url}api/openapi.json · "
            f"events {url}events · Ctrl-C stops",
            highlight=False,
            soft_wrap=True,
        )
        if not is_loopback(host):
            console.print(
                f"access token required (Authorization: Bearer …): {settings.home / TOKEN_FILE}",
                highlight=False,
                soft_wrap=True,
            )

    options = ServeOptions(host=host, port=port, rate=rate_limit, burst=burst)
    asyncio.run(run_server(settings, options, ready))
