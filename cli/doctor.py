"""`usagectl doctor`: what was found, what was rejected and why, and whether the hub answers."""

from __future__ import annotations

import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from usagectl.processors.readmodel import NoReadModel, applied_seq, ledger_counts, open_read
from usagectl.processors.schema import CONSUMER
from usagectl.producers.checkpoints import Checkpoints
from usagectl.producers.discovery import NoDataRoots, claude_roots, session_files

from .settings import Settings, load_settings

app = typer.Typer(add_completion=False)


def _roots(settings: Settings) -> dict[str, Any]:
    try:
        roots = claude_roots(
            settings.claude_config_dir, settings.user_home, settings.xdg_config_home
        )
    except NoDataRoots as err:
        return {"error": str(err), "roots": []}
    return {"roots": [{"path": str(r), "files": len(session_files(r))} for r in roots]}


def _producer(settings: Settings) -> dict[str, Any]:
    if not settings.producer_db.exists():
        return {"files": 0, "lines": 0, "events": 0, "unread_bytes": 0, "lines_by_reason": {}}
    cp = Checkpoints(settings.producer_db)
    try:
        files, lines, events, lag = cp.totals()
        reasons = {
            f"{'rejected' if rejected else 'skipped'}:{reason.removeprefix('skip:')}": n
            for (reason, rejected), n in sorted(cp.reasons().items())
        }
        worst = cp.rejected_by_file()[:20]
    finally:
        cp.close()
    rejected_files = [{"path": p, "reason": r, "lines": n} for p, r, n in worst]
    return {"files": files, "lines": lines, "events": events, "unread_bytes": lag,
            "lines_by_reason": reasons, "rejected_files": rejected_files}  # fmt: skip


def _plans(settings: Settings) -> dict[str, Any]:
    from usagectl.producers.plans import rejected_lines

    rejected = rejected_lines(settings.plans_state)
    return {"projects": list(settings.plans), "rejected_manifest_lines": rejected}


def _read_model(settings: Settings) -> dict[str, Any]:
    try:
        conn = open_read(settings.db_path)
    except NoReadModel as err:
        return {"error": str(err)}
    with conn:
        counted, replays = ledger_counts(conn)
        return {"path": str(settings.db_path), "applied_seq": applied_seq(conn),
                "responses_counted": counted, "sidechain_replays_set_aside": replays}  # fmt: skip


async def _bus(settings: Settings) -> dict[str, Any]:
    from usagectl.processors.bus import BusUnavailable, connect, consumer_lag, stream_last_seq
    from usagectl.processors.embedded import EmbeddedServer, running_server

    server: EmbeddedServer | None = None
    if settings.nats_url is None:
        server = running_server(settings.home)
        if server is None:
            return {"hub": "embedded", "reachable": False,
                    "note": "the embedded hub is not running (up and sync start it)"}  # fmt: skip
    bus = settings.bus(settings.nats_url or (server.url if server else ""))
    url = bus.safe_url  # never a password or token from the URL
    try:
        nc = await connect(bus)
    except BusUnavailable as err:
        return {"hub": url, "reachable": False, "error": str(err)}
    try:
        js = nc.jetstream()
        last = await stream_last_seq(js, bus)
        lag = await consumer_lag(js, bus, CONSUMER)
    except Exception as err:
        return {"hub": url, "reachable": True, "error": f"stream check failed: {err}"}
    finally:
        await nc.close()
    return {"hub": url, "reachable": True, "stream_last_seq": last, "consumer_lag": lag}


def _run(coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    import asyncio

    return asyncio.run(coro)


def collect(settings: Settings) -> dict[str, Any]:
    return {
        "machine": settings.machine,
        "home": str(settings.home),
        "data": _roots(settings),
        "producer": _producer(settings),
        "read_model": _read_model(settings),
        "plans": _plans(settings),
        "bus": _run(_bus(settings)),
    }


@app.command()
def doctor(
    json_out: Annotated[bool, typer.Option("--json", "-j")] = False,
) -> None:
    """Data roots found, files and lines seen, lines rejected by reason, hub and consumer lag."""
    report = collect(load_settings())
    if json_out:
        typer.echo(json.dumps(report, indent=2))
        return
    _render(Console(), report)


def _render(console: Console, r: dict[str, Any]) -> None:
    console.print(f"[bold]machine[/] {r['machine']}   [bold]data dir[/] {r['home']}")
    data = r["data"]
    if "error" in data:
        console.print(f"[red]data roots:[/] {data['error']}")
    for root in data["roots"]:
        console.print(f"[bold]root[/] {root['path']}: {root['files']:,} transcript files")
    p = r["producer"]
    console.print(
        f"[bold]producer[/] {p['files']:,} files, {p['lines']:,} lines, {p['events']:,} usage "
        f"events, {p['unread_bytes']:,} bytes not yet read"
    )
    if p["lines_by_reason"]:
        table = Table("lines not counted", "reason", "lines", header_style="bold")
        for key, n in p["lines_by_reason"].items():
            kind, reason = key.split(":", 1)
            table.add_row(kind, reason, f"{n:,}", style="red" if kind == "rejected" else "dim")
        console.print(table)
    for f in p.get("rejected_files", []):
        console.print(
            f"  [red]rejected[/] {f['lines']:,} × {f['reason']} in {Path(f['path'])}",
            soft_wrap=True,
        )
    for path, reasons in r["plans"]["rejected_manifest_lines"].items():
        counts = ", ".join(f"{n:,} × {reason}" for reason, n in sorted(reasons.items()))
        console.print(f"  [red]rejected[/] plan manifest lines {counts} in {path}", soft_wrap=True)
    rm = r["read_model"]
    if "error" in rm:
        console.print(f"[bold]read model[/] {rm['error']}")
    else:
        console.print(
            f"[bold]read model[/] {rm['path']}: stream seq {rm['applied_seq']:,} applied, "
            f"{rm['responses_counted']:,} responses counted, "
            f"{rm['sidechain_replays_set_aside']:,} sidechain replays set aside"
        )
    bus = r["bus"]
    state = "[green]reachable[/]" if bus.get("reachable") else "[red]not reachable[/]"
    console.print(
        f"[bold]hub[/] {bus.get('hub')} {state} {bus.get('error') or bus.get('note', '')}"
    )
    if "consumer_lag" in bus:
        console.print(f"  stream at seq {bus['stream_last_seq']:,}; processor lag "
                      f"{bus['consumer_lag']} messages")  # fmt: skip
