"""`usagectl consumers list|run|replay`: the installed consumers (entry-point group
``usagectl.consumers``), their cursors and lag; one run alone; one rebuilt from the stream."""

from __future__ import annotations

import fcntl
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from usagectl.processors.app.settings import Settings, load_settings

group = typer.Typer(help="Plug-in consumers: list them, run one, replay one.")
err_console = Console(stderr=True)


def _running(settings: Settings, name: str) -> bool:
    path = settings.home / f"consumer-{name}.lock"
    if not path.exists():
        return False
    with path.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


async def _lags(settings: Settings, names: list[str]) -> dict[str, Any]:
    """Messages each consumer has yet to read, from the hub (None: not known)."""
    from usagectl.processors.bus import BusUnavailable, connect, consumer_lag, jetstream
    from usagectl.processors.consumer_runner import durable_name
    from usagectl.processors.embedded import running_server

    url = settings.nats_url
    if url is None:
        server = running_server(settings.home)
        if server is None:
            return {"note": "hub not running: lag unknown"}
        url = server.url
    bus = settings.bus(url)
    try:
        nc = await connect(bus)
    except BusUnavailable as err:
        return {"note": str(err)}
    try:
        js = jetstream(nc, bus)
        durable = {n: durable_name(n, settings.machine) for n in names}
        return {n: await consumer_lag(js, bus, d, named=True) for n, d in durable.items()}
    except Exception as err:
        return {"note": f"lag unknown: {err}"}
    finally:
        await nc.close()


def collect(settings: Settings) -> list[dict[str, Any]]:
    import asyncio

    from usagectl.processors.app.consumer_host import context_for
    from usagectl.processors.consumers import ConsumerError, installed, load, progress

    found = installed()
    lags = asyncio.run(_lags(settings, list(found))) if found else {}
    rows = []
    for name, ep in found.items():
        row: dict[str, Any] = {
            "name": name,
            "entry_point": ep.value,
            "enabled": name in settings.consumers,
            "package": ep.dist.name if ep.dist else None,
            "running": _running(settings, name),
            "lag": lags.get(name),
            "seq": None,
            "owed": None,
            "description": "",
            "error": None,
        }
        try:
            consumer = load(context_for(settings, name), found)
        except (ConsumerError, Exception) as err:
            row["error"] = str(err)
        else:
            tracking, owed = progress(settings.home, consumer, datetime.now(UTC))
            row |= {"seq": tracking.seq, "owed": owed, "description": consumer.description}
        rows.append(row)
    if "note" in lags:
        for row in rows:
            row["lag_note"] = lags["note"]
    return rows


@group.command("list")
def list_consumers(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Installed consumers: enabled or not, running or not, stream position and lag."""
    settings = load_settings()
    rows = collect(settings)
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no consumers installed (entry-point group usagectl.consumers)")
        return
    table = Table(
        "consumer", "enabled", "running", "seq", "lag", "package", "about", header_style="bold"
    )
    for r in rows:
        lag = "—" if r["lag"] is None else f"{r['lag']:,}"
        about = f"[red]{r['error']}[/]" if r["error"] else r["description"]
        table.add_row(
            r["name"],
            "yes" if r["enabled"] else "no",
            "yes" if r["running"] else "no",
            "—" if r["seq"] is None else f"{r['seq']:,}",
            lag,
            r["package"] or "",
            about,
        )
    Console().print(table)
    if rows[0].get("lag_note"):
        err_console.print(f"[dim]{rows[0]['lag_note']}[/]")


@group.command("run")
def run(
    name: Annotated[str, typer.Argument(help="the consumer's name (see consumers list)")],
) -> None:
    """Run one consumer until Ctrl-C (`up` and `sync` run the enabled ones themselves)."""
    from usagectl.processors.app.consumer_host import run_consumer
    from usagectl.processors.app.processor_child import run_role

    run_role(lambda stop, parent: run_consumer(load_settings(), name, stop, parent))


@group.command("replay")
def replay(name: Annotated[str, typer.Argument(help="the consumer's name")]) -> None:
    """Rebuild one consumer's tables from the stream's start (it sends nothing again)."""
    from usagectl.processors.app.consumer_host import run_replay

    from .event_loop import run_async

    stats = run_async(run_replay(load_settings(), name))
    err_console.print(f"replayed {name}: {stats.events:,} events, up to stream seq {stats.seq:,}")
