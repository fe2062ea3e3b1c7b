"""`usagectl doctor`: what was found, what was rejected and why, and whether the hub answers."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from usagectl.processors import poison
from usagectl.processors.app.settings import Settings, load_settings
from usagectl.processors.readmodel import (
    NoReadModel,
    applied_seq,
    ledger_counts,
    open_read,
    unpriced_models,
)
from usagectl.processors.schema import CONSUMER
from usagectl.producers.checkpoints import Checkpoints, DamagedCheckpoints
from usagectl.producers.discovery import NoDataRoots, claude_roots, session_files

app = typer.Typer(add_completion=False)


def _roots(settings: Settings) -> dict[str, Any]:
    try:
        roots = claude_roots(
            settings.claude_config_dir, settings.user_home, settings.xdg_config_home
        )
    except NoDataRoots as err:
        return {"error": str(err), "roots": []}
    return {"roots": [{"path": str(r), "files": len(session_files(r))} for r in roots]}


def _no_producer() -> dict[str, Any]:
    """What a machine that never ran a producer reports."""
    return {
        "files": 0,
        "lines": 0,
        "events": 0,
        "unread_bytes": 0,
        "lines_by_reason": {},
        "tails_held": [],
    }


def _producer(settings: Settings) -> dict[str, Any]:
    empty = _no_producer()
    if not settings.producer_db.exists():
        return empty
    try:
        cp = Checkpoints(settings.producer_db, recover=False)
    except (DamagedCheckpoints, sqlite3.Error) as err:
        return {**empty, "error": str(err)}
    try:
        files, lines, events, lag = cp.totals()
        reasons = {
            f"{'rejected' if rejected else 'skipped'}:{reason.removeprefix('skip:')}": n
            for (reason, rejected), n in sorted(cp.reasons().items())
        }
        worst = cp.rejected_by_file()[:20]
        unreadable = cp.unreadable()
        held = cp.tails_held()
    finally:
        cp.close()
    rejected_files = [{"path": p, "reason": r, "lines": n} for p, r, n in worst]
    return {
        "files": files,
        "lines": lines,
        "events": events,
        "unread_bytes": lag,
        "lines_by_reason": reasons,
        "rejected_files": rejected_files,
        "unreadable": unreadable,
        "tails_held": [{"path": p, "bytes": n} for p, n in held],
    }


def _plans(settings: Settings) -> dict[str, Any]:
    from usagectl.producers.plan_scanner import rejected_lines

    rejected = rejected_lines(settings.plans_state)
    return {"projects": list(settings.plans), "rejected_manifest_lines": rejected}


def _read_model(settings: Settings) -> dict[str, Any]:
    try:
        return _read_model_state(settings)
    except sqlite3.DatabaseError as err:
        return {"error": damaged_read_model(settings.db_path, err), "damaged": True}


def damaged_read_model(path: Path, err: BaseException) -> str:
    return (
        f"the read model {path} is damaged ({err}): run `usagectl replay` to rebuild it "
        "from the stream"
    )


def _read_model_state(settings: Settings) -> dict[str, Any]:
    try:
        conn = open_read(settings.db_path)
    except NoReadModel as err:
        if settings.db_path.exists():
            return {
                "error": damaged_read_model(settings.db_path, err.__cause__ or err),
                "damaged": True,
            }
        return {"error": str(err)}
    with conn:
        counted, replays = ledger_counts(conn)
        return {
            "path": str(settings.db_path),
            "applied_seq": applied_seq(conn),
            "responses_counted": counted,
            "sidechain_replays_set_aside": replays,
            "refused_events": poison.read(conn),
            "unpriced_models": unpriced_models(conn),
        }


def diagnose(error: str) -> str:
    """The hub's or the client's words, turned into what the user should do."""
    low = error.lower()
    if "authorization" in low or "authentication" in low or "auth" in low.split():
        return "the hub refused our credentials: check hub.user/password, token, nkey or creds"
    if "permissions violation" in low:
        return "the hub forbids this user an operation usagectl needs: check its permissions"
    if "certificate" in low or "ssl" in low or "tls" in low:
        return "TLS failed: check hub.tls_ca (the hub's CA) and the client cert/key"
    if "refused" in low or "no servers available" in low or "timeout" in low:
        return "nothing answers at the hub URL: is nats-server running and the port open?"
    return "the hub could not be used"


async def _streams(js: Any, bus: Any) -> dict[str, Any]:
    import nats.errors  # here: every other command loads this module, few of them the bus

    info = await js.stream_info(bus.stream)
    consumers: list[dict[str, Any]] = []
    with contextlib.suppress(nats.errors.Error):  # a machine user may not list the hub's
        for c in await js.consumers_info(bus.stream):
            pending, ack_pending = int(c.num_pending or 0), int(c.num_ack_pending or 0)
            consumers.append({"name": c.name, "pending": pending, "ack_pending": ack_pending})
    first_ts = None
    if info.state.messages:
        first_ts = (await js.get_msg(bus.stream, seq=int(info.state.first_seq))).time
    max_age = info.config.max_age or 0
    heartbeat = await js.stream_info(bus.heartbeat_stream)
    return {
        "stream": bus.stream,
        "messages": int(info.state.messages or 0),
        "bytes": int(info.state.bytes or 0),
        "first_seq": int(info.state.first_seq or 0),
        "stream_last_seq": int(info.state.last_seq or 0),
        "history_since": str(first_ts) if first_ts else None,
        "retention": f"{max_age / 86400:g} days" if max_age else "keep forever",
        "replicas": int(info.config.num_replicas or 1),
        "machines_heartbeating": int(heartbeat.state.messages or 0),
        "consumers": consumers,
    }


async def _bus(settings: Settings) -> dict[str, Any]:
    from usagectl.processors.bus import (
        BusUnavailable,
        connect,
        consumer_lag,
        fact_subjects,
        jetstream,
    )
    from usagectl.processors.consumer_check import changed, tampered_line
    from usagectl.processors.embedded import EmbeddedServer, running_server

    server: EmbeddedServer | None = None
    if settings.nats_url is None:
        server = running_server(settings.home)
        if server is None:
            return {
                "hub": "embedded",
                "reachable": False,
                "note": "the embedded hub is not running (up and sync start it)",
            }
    bus = settings.bus(settings.nats_url or (server.url if server else ""))
    shown = bus.safe_url  # never a password or token from the URL
    try:
        nc = await connect(bus)
    except BusUnavailable as err:
        problem = diagnose(str(err))
        return {"hub": shown, "reachable": False, "error": str(err), "problem": problem}
    try:
        js = jetstream(nc, bus)
        streams = await _streams(js, bus)
        lag = await consumer_lag(js, bus, CONSUMER)
        ours = bus.durable(CONSUMER)
        tampered = await changed(js, bus, ours, fact_subjects(bus.prefix))
    except Exception as err:
        problem = f"the stream {bus.stream} cannot be read: {diagnose(str(err))}"
        return {
            "hub": shown,
            "reachable": True,
            "error": f"stream check failed: {err}",
            "problem": problem,
        }
    finally:
        await nc.close()
    found = {"hub": shown, "reachable": True, "auth": "accepted", **streams, "consumer_lag": lag}
    if tampered is not None:
        found["problem"] = tampered_line(ours, tampered)
    return found


def problems(report: dict[str, Any]) -> list[str]:
    """What stops usagectl from working here: each one makes `doctor` exit 1."""
    found = []
    if "error" in report["data"]:
        found.append(report["data"]["error"])
    if "error" in report["producer"]:
        found.append(report["producer"]["error"])
    if report["read_model"].get("damaged"):
        found.append(report["read_model"]["error"])
    if report["bus"].get("problem"):
        found.append(f"hub {report['bus']['hub']}: {report['bus']['problem']}")
    return found


def warnings(report: dict[str, Any]) -> list[str]:
    """What is worth knowing but works: real transcripts always hold a few unusable lines, and a
    model newer than the price table counts its tokens, only not its cost."""
    found = []
    if any(k.startswith("rejected:") for k in report["producer"]["lines_by_reason"]):
        found.append("some transcript lines were rejected (listed above; they are not counted)")
    unreadable = report["producer"].get("unreadable", {})
    if unreadable:
        n = len(unreadable)
        found.append(
            f"{n:,} file(s) or folder(s) could not be read (listed above); the rest "
            "is counted, and they are tried again at every pass"
        )
    refused = report["read_model"].get("refused_events", {}).get("total", 0)
    if refused:
        found.append(
            f"the processor refused {refused:,} event(s) from the stream (listed "
            "above; they are not counted, and counting went on)"
        )
    for u in report["read_model"].get("unpriced_models", []):
        found.append(
            f"model {u['model']} has no price: {u['totalTokens']:,} tokens in {u['entries']:,} "
            "responses are missing from every cost (try `usagectl prices update`)"
        )
    return found


def _run(coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    import asyncio

    return asyncio.run(coro)


def _section(look: Any, empty: dict[str, Any]) -> dict[str, Any]:
    """One part of the report; whatever goes wrong in it is reported, and doctor goes on."""
    try:
        return dict(look())
    except Exception as err:
        return {**empty, "error": f"{type(err).__name__}: {err}"}


def collect(settings: Settings) -> dict[str, Any]:
    no_producer = _no_producer()
    return {
        "machine": settings.machine,
        "home": str(settings.home),
        "data": _section(lambda: _roots(settings), {"roots": []}),
        "producer": _section(lambda: _producer(settings), no_producer),
        "read_model": _section(lambda: _read_model(settings), {}),
        "plans": _section(
            lambda: _plans(settings), {"projects": [], "rejected_manifest_lines": {}}
        ),
        "otlp": _otlp_or_none(settings),
        "bus": _section(
            lambda: _run(_bus(settings)),
            {"hub": "?", "reachable": False, "problem": "the hub could not be checked"},
        ),
    }


def _otlp_or_none(settings: Settings) -> dict[str, Any] | None:
    try:
        return _otlp(settings)
    except Exception:
        return None


def _otlp(settings: Settings) -> dict[str, Any] | None:
    """The OpenTelemetry receiver's counts (None where it never ran)."""
    import dataclasses

    from usagectl.producers.otlp_receiver import STATS_FILE, Stats

    path = settings.home / STATS_FILE
    return dataclasses.asdict(Stats.load(path)) if path.exists() else None


@app.command()
def doctor(
    json_out: Annotated[bool, typer.Option("--json", "-j")] = False,
) -> None:
    """Data roots found, files and lines seen, lines rejected by reason, hub and consumer lag."""
    report = collect(load_settings())
    report["problems"] = problems(report)
    report["warnings"] = warnings(report)
    if json_out:
        typer.echo(json.dumps(report, indent=2))
    else:
        _render(Console(), report)
    if report["problems"]:
        raise typer.Exit(1)  # scripts and service checks can tell a broken setup from a fine one


def _render_otlp(console: Console, o: dict[str, Any] | None) -> None:
    if o is None:
        return
    console.print(
        f"[bold]OpenTelemetry receiver[/] {o['requests']:,} requests, {o['log_records']:,} log "
        f"records, {o['usage_events']:,} usage events, {o['metric_points']:,} metric points; "
        f"{sum(o['bad_payloads'].values()):,} bad payloads"
    )
    for kind, counts in (("bad payload", o["bad_payloads"]), ("rejected", o["rejected"])):
        for reason, n in sorted(counts.items()):
            console.print(f"  [red]{kind}[/] {n:,} × {reason}", soft_wrap=True)


def _render(console: Console, r: dict[str, Any]) -> None:
    console.print(f"[bold]machine[/] {r['machine']}   [bold]data dir[/] {r['home']}")
    data = r["data"]
    if "error" in data:
        console.print(f"[red]data roots:[/] {data['error']}")
    for root in data["roots"]:
        console.print(f"[bold]root[/] {root['path']}: {root['files']:,} transcript files")
    p = r["producer"]
    if "error" in p:
        console.print(f"[red]producer state:[/] {p['error']}", soft_wrap=True)
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
    for path, why in p.get("unreadable", {}).items():
        console.print(f"  [red]unreadable[/] {path}: {why}", soft_wrap=True)
    held = p.get("tails_held", [])
    if held:
        console.print(
            f"  {len(held):,} file(s) end in a last line without its newline, "
            f"{sum(t['bytes'] for t in held):,} bytes held (counted once it is a whole JSON "
            "object and its file is quiet, or once its newline comes)"
        )
        for t in held[:10]:
            console.print(
                f"    held {t['bytes']:,} bytes at the end of {t['path']}", soft_wrap=True
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
        for p in rm.get("refused_events", {}).get("recent", []):
            console.print(
                f"  [red]refused[/] stream seq {p['seq']:,} from {p['machine']}: {p['reason']}",
                soft_wrap=True,
            )
    _render_otlp(console, r.get("otlp"))
    bus = r["bus"]
    state = "[green]reachable[/]" if bus.get("reachable") else "[red]not reachable[/]"
    console.print(
        f"[bold]hub[/] {bus.get('hub')} {state} {bus.get('error') or bus.get('note', '')}"
    )
    if "consumer_lag" in bus:
        console.print(
            f"  auth accepted; stream {bus['stream']}: {bus['messages']:,} messages "
            f"(seq {bus['first_seq']:,}-{bus['stream_last_seq']:,}, {bus['bytes']:,} bytes), "
            f"history since {bus['history_since']}, retention {bus['retention']}, "
            f"{bus['replicas']} replica(s); {bus['machines_heartbeating']} machine(s) heartbeating"
        )
        for c in bus["consumers"]:
            console.print(
                f"  consumer {c['name']}: {c['pending']:,} pending, "
                f"{c['ack_pending']:,} awaiting ack"
            )
        console.print(f"  processor lag {bus['consumer_lag']} messages")
    for warning in r.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    for problem in r.get("problems", []):
        console.print(f"[red]problem:[/] {problem}", soft_wrap=True)
    if not r.get("problems"):
        console.print("[green]no problem found[/]")
