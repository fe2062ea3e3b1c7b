"""`usagectl alerts`: the alerts that fired (and where they went); `alerts test` sends a test
alert through every configured sink."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from usagectl.processors.app.errors import UserError
from usagectl.processors.app.settings import Settings, load_settings
from usagectl.processors.app.side_reports import read_alerts

group = typer.Typer(
    help="Alerts: list what fired; `alerts test` tries every sink.", invoke_without_command=True
)

_DELIVERY = {"sent": "✓", "pending": "…", "failed": "✗", "skipped": "–"}
UNITS = {
    "usd": "${:,.2f}",
    "tokens": "{:,.0f} tokens",
    "tokens/min": "{:,.0f} tok/min",
    "percent": "{:.0f}%",
    "minutes": "{:.0f} min",
    "machine": "",
}


def _figure(unit: str, value: float) -> str:
    return UNITS.get(unit, "{}").format(value)


@group.callback()
def alerts(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="every alert as JSON")] = False,
    firing: Annotated[bool, typer.Option("--firing", help="only alerts still firing")] = False,
) -> None:
    """The alerts that fired, newest first, with what each sink did with them."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings()
    rows = [r for r in read_alerts(settings) if not firing or r["status"] == "firing"]
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        hint = (
            ""
            if "alerts" in settings.consumers
            else (' (the alerts consumer is not enabled: [consumers] enabled = ["alerts"])')
        )
        typer.echo(f"no alerts{hint}")
        return
    table = Table(
        "", "rule", "window", "figure / limit", "fired (UTC)", "delivered", header_style="bold"
    )
    for r in rows:
        sent = ", ".join(
            f"{sink} {_DELIVERY.get(d['status'], d['status'])}"
            for sink, d in sorted(r["deliveries"].items())
        )
        figure = _figure(r["unit"], r["latest"])
        if r["unit"] not in ("machine", "test"):
            figure += f" / {_figure(r['unit'], r['threshold'])}"
        fired = (r["fired_at"] or "").replace("T", " ")[:16]
        mark = "[red]●[/]" if r["status"] == "firing" else "[dim]○[/]"
        table.add_row(mark, r["rule"], r["window"], figure, fired, sent)
    Console().print(table)
    typer.echo("● firing  ○ resolved (window over or condition gone)")


def _test_payload(settings: Settings) -> dict[str, Any]:
    from usagectl.projections.alerts import Reading, Rule, payload

    now = int(time.time() * 1000)
    rule = Rule(name="test", kind="test")
    text = f"test alert from {settings.machine}: this sink works"
    stamp = datetime.fromtimestamp(now / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    reading = Reading(rule, settings.account, stamp, now, None, 0.0, 0.0, 0.0, "test", text)
    return payload(reading, now, test=True)


async def _send_all(settings: Settings) -> list[str]:
    from usagectl.processors.alert_sinks import DeliveryError, describe, send, unavailable
    from usagectl.processors.alerts_consumer import config_of
    from usagectl.processors.app.consumer_host import context_for
    from usagectl.processors.bus import BusUnavailable, connect
    from usagectl.processors.embedded import running_server

    cfg = config_of(context_for(settings, "alerts"))
    body = _test_payload(settings)
    failures: list[str] = []
    nc, hub_error = None, "the hub is not running (start `usagectl up`)"
    if any(s.type == "nats" for s in cfg.sinks):
        server = None if settings.nats_url else running_server(settings.home)
        url = settings.nats_url or (server.url if server else None)
        if url is not None:
            try:
                nc = await connect(settings.bus(url))
            except BusUnavailable as err:
                hub_error = str(err)
    try:
        for sink in cfg.sinks:
            name = describe(sink, settings.prefix)
            why = unavailable(sink) or (hub_error if sink.type == "nats" and nc is None else None)
            if why is not None and sink.type == "desktop":
                typer.echo(f"- {name}: skipped ({why})")
                continue
            if sink.type == "log":  # stdout here: stderr is for the one line of an error
                typer.echo(f"✓ {name}: usagectl alert: {body['text']}")
                continue
            try:
                if why is not None:
                    raise DeliveryError(why)
                note = await send(sink, body, nc, settings.prefix)
            except DeliveryError as err:
                typer.echo(f"✗ {name}: {err}")
                failures.append(f"{name}: {err}")
            else:
                typer.echo(f"✓ {name}: {note}")
    finally:
        if nc is not None:
            await nc.close()
    return failures


@group.command("test")
def test() -> None:
    """Send a test alert through every configured sink; one line per sink."""
    import asyncio

    failures = asyncio.run(_send_all(load_settings()))
    if failures:
        raise UserError("alert sink failed: " + "; ".join(failures))
