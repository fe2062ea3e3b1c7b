"""`usagectl watch`: every session on every machine, live.

Start-up reads the read model once, at stream sequence S, and then follows the stream from
S+1; the screen is redrawn when an event arrives and on the --refresh cadence (time moves the
block's clock and burn rate). It never polls files or re-reads the database.
"""

from __future__ import annotations

from typing import Annotated

import typer
from usagectl.processors.app.errors import UserError
from usagectl.processors.app.parsing import zone
from usagectl.processors.app.settings import load_settings

app = typer.Typer(add_completion=False)

PLANS = ("pro", "max5", "max20", "custom")


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (value or "").split(",") if n.strip())


@app.command()
def watch(
    refresh: Annotated[
        float, typer.Option(help="redraw every N seconds (data arrives live)")
    ] = 1.0,
    plan: Annotated[str | None, typer.Option(help="pro|max5|max20|custom")] = None,
    token_limit: Annotated[
        str | None, typer.Option("--token-limit", "-t", help="N, max or p90")
    ] = None,
    session_length: Annotated[float, typer.Option("--session-length", "-n")] = 5.0,
    cost_threshold: Annotated[float | None, typer.Option("--cost-threshold")] = None,
    projects: Annotated[str | None, typer.Option(help="only these projects, a,b")] = None,
    exclude: Annotated[str | None, typer.Option(help="not these projects, a,b")] = None,
    machine: Annotated[str | None, typer.Option(help="only this machine")] = None,
    compact: Annotated[bool, typer.Option(help="narrow layout")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object per update")] = False,
    timezone: Annotated[str | None, typer.Option("--timezone", "-z")] = None,
) -> None:
    """Live view of the current 5-hour block across every machine, project and session."""
    from usagectl.projections.blocks import session_ms
    from usagectl.projections.live import Options

    tz = zone(timezone)
    if refresh <= 0 or session_length <= 0:
        raise UserError("--refresh and --session-length must be positive")
    if plan is not None and plan not in PLANS:
        raise UserError(f"invalid --plan {plan!r}: choose one of {', '.join(PLANS)}")
    if plan == "custom" and token_limit is None:
        raise UserError("--plan custom needs --token-limit N, max or p90")
    if token_limit not in (None, "max", "p90") and not (token_limit or "").isdigit():
        raise UserError(f"invalid --token-limit {token_limit!r}: a number, max or p90")
    options = Options(
        length_ms=session_ms(session_length),
        plan=plan,
        token_limit=token_limit,
        cost_threshold=cost_threshold,
        projects=_names(projects),
        exclude=_names(exclude),
        machine=machine,
    )
    from .event_loop import run_async
    from .watch_loop import run_watch

    run_async(run_watch(load_settings(), options, tz, refresh, compact, json_out))
