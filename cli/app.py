"""`usagectl`: the command line. Each command parses, calls, renders."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from usagectl.processors.app.settings import Settings, load_settings

from . import (
    config_show,
    dash,
    deploy,
    doctor,
    export,
    hooks,
    machines,
    otel,
    plans,
    prices,
    reports,
    service,
    statusline,
    tools,
    trends,
    watch,
)
from .alerts import group as alerts_group
from .consumers import group as consumers_group
from .event_loop import run_async

app = typer.Typer(
    name="usagectl",
    help="Claude Code token and cost tracking across sessions and machines.",
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
)
app.registered_commands += reports.app.registered_commands
app.registered_commands += doctor.app.registered_commands
app.registered_commands += statusline.app.registered_commands
app.registered_commands += watch.app.registered_commands
app.registered_commands += hooks.app.registered_commands
app.registered_commands += tools.app.registered_commands
app.registered_commands += plans.app.registered_commands
app.registered_commands += machines.app.registered_commands
app.registered_commands += trends.app.registered_commands
app.registered_commands += export.app.registered_commands
# Commands other faces contribute (`serve` from the web face): loaded by name, never imported.
for entry in sorted(entry_points(group="usagectl.commands"), key=lambda e: e.name):
    app.registered_commands += entry.load().registered_commands
app.registered_commands += dash.app.registered_commands
app.add_typer(hooks.group, name="hooks")
app.add_typer(otel.group, name="otel")
app.add_typer(config_show.group, name="config")
app.add_typer(consumers_group, name="consumers")
app.add_typer(alerts_group, name="alerts")
app.add_typer(deploy.group, name="deploy")
app.add_typer(service.group, name="service")
app.add_typer(prices.group, name="prices")


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"usagectl {version('usagectl')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """Claude Code token and cost tracking across sessions and machines."""


PlanDirs = Annotated[
    list[str] | None,
    typer.Option("--plans", help="a project directory whose dev/active plans to track (repeat)"),
]
_OTLP_HELP = "also receive Claude Code's OpenTelemetry (OTLP/HTTP on otlp.listen, 127.0.0.1:4318)"
Otlp = Annotated[bool, typer.Option("--otlp", help=_OTLP_HELP)]
err_console = Console(stderr=True)


def _with_plans(settings: Settings, plan_dirs: list[str] | None) -> Settings:
    return replace(settings, plans=(*settings.plans, *(plan_dirs or ())))


@app.command()
def sync(plan_dirs: PlanDirs = None) -> None:
    """Publish everything new once, wait until the read model has caught up, exit."""
    from usagectl.processors.app.roles import run_sync

    from .progress import sync_progress

    settings = _with_plans(load_settings(), plan_dirs)
    with sync_progress(err_console) as on_progress:
        stats = run_async(run_sync(settings, on_progress))
    err_console.print(
        f"synced {stats.files:,} files, {stats.lines:,} lines, {stats.events:,} usage events "
        f"({stats.rejected:,} lines rejected: see `usagectl doctor`)"
    )
    if stats.unreadable:
        err_console.print(
            f"{stats.unreadable:,} file(s) or folder(s) could not be read and were skipped (the "
            "rest is counted; they are tried again next time): see `usagectl doctor`"
        )


@app.command()
def up(
    plan_dirs: PlanDirs = None,
    otlp: Otlp = False,
) -> None:
    """Run the embedded hub, this machine's producer and the processor until Ctrl-C."""
    from usagectl.processors.app.roles import run_up

    from .progress import up_display

    settings = _with_plans(load_settings(), plan_dirs)
    if otlp:
        settings = replace(settings, otlp_enabled=True)

    import asyncio

    async def main() -> None:
        from usagectl.processors.app.supervise import stop_within_deadline, until_stopped

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def stopping() -> None:
            if not stop.is_set():
                stop.set()
                stop_within_deadline()

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stopping)
        with up_display(err_console, settings) as (on_progress, on_ready):
            await until_stopped(
                lambda: run_up(settings, stop, on_progress, on_ready), stop, settings.home
            )

    run_async(main())


@app.command()
def processor() -> None:
    """Apply the stream to the read model until Ctrl-C (the processor alone, e.g. on a hub)."""
    from usagectl.processors.app.processor_child import run_role
    from usagectl.processors.app.roles import run_processor

    run_role(lambda stop, parent: run_processor(load_settings(), stop, parent))


@app.command()
def replay(
    from_archive: Annotated[
        Path | None,
        typer.Option("--from-archive", help="apply this archive directory first (see archive)"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="swap in the rebuilt model even if it has less history")
    ] = False,
) -> None:
    """Rebuild every read model from the stream (after an archive, if given) into a new file
    and swap it in atomically; refused if it would hold less history than the current one."""
    from usagectl.processors.app.roles import run_replay

    result = run_async(run_replay(load_settings(), from_archive, force=force))
    if result.lost:
        what = ", ".join(f"{n:,} {kind}" for kind, n in result.lost.items())
        err_console.print(f"warning: --force: the replaced read model had {what} more")
    if result.replaced_unreadable:
        err_console.print(
            f"warning: the replaced read model could not be read "
            f"({result.replaced_unreadable}); nothing of it was kept"
        )
    source, counts = "the stream", result.archive
    if result.purged_gap:
        err_console.print(
            f"warning: {result.purged_gap:,} older messages are no longer in the "
            "stream (archived or aged out): add --from-archive DIR"
        )
    if counts is not None:
        source = f"{counts.lines:,} archived messages in {counts.files} files and the stream"
        if counts.bad_lines or counts.truncated_files:
            truncated = ", ".join(counts.truncated_files) or "none"
            err_console.print(
                f"warning: archive {from_archive}: {counts.bad_lines} unreadable "
                f"lines, truncated files: {truncated}"
            )
    err_console.print(
        f"replayed {result.events:,} usage events from {source} into a fresh read model"
    )


@app.command()
def archive(
    older_than: Annotated[
        float, typer.Option("--older-than", help="archive whole UTC days older than N days")
    ] = 30,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="where day files go (default: DATA_DIR/archive)")
    ] = None,
    purge: Annotated[
        bool, typer.Option("--purge", help="then drop the archived messages from the stream")
    ] = False,
) -> None:
    """Write stream history older than N days to compressed JSONL, one file per day; rerun
    any time (it continues where it stopped)."""
    from datetime import UTC, datetime

    from usagectl.processors.app.errors import UserError
    from usagectl.processors.app.roles import run_archive
    from usagectl.processors.archive import cutoff_for

    if not older_than >= 0:
        raise UserError("--older-than must be 0 or more days")
    settings = load_settings()
    target = directory or settings.home / "archive"
    cutoff = cutoff_for(datetime.now(UTC), older_than)
    result = run_async(run_archive(settings, target, cutoff, purge))
    days = f"{result.days[0]} .. {result.days[-1]}" if result.days else "no new days"
    purged = f"; {result.purged:,} messages purged from the stream" if purge else ""
    err_console.print(
        f"archived {result.messages:,} messages before {cutoff:%Y-%m-%d} UTC ({days}) to "
        f"{target}; archive ends at stream seq {result.last_seq:,}{purged}"
    )


def main() -> None:
    """Entry point: every error a user can cause is one line on stderr and exit status 1."""
    try:
        app()
    except KeyboardInterrupt:
        _fail("interrupted")
    except Exception as err:
        while isinstance(err, ExceptionGroup):  # what failed first, not the group around it
            err = err.exceptions[0]
        said = _explain(err)
        if said is None and os.environ.get("USAGECTL_DEBUG"):
            raise
        _fail(said or f"internal error: {type(err).__name__}: {err} (USAGECTL_DEBUG=1 shows where)")
    except BaseException as err:
        if type(err).__name__ == "CancelledError":
            _fail("stopped")
        raise


def _explain(err: Exception) -> str | None:
    """What failed and what to do, in one line; None for a failure of ours."""
    from usagectl.producers.checkpoints import disk_full

    home = _home()
    if disk_full(err, Path(home)):
        where = Path(err.filename).parent if isinstance(err, OSError) and err.filename else None
        return (
            f"the disk holding {where or home} is full ({err}): free some space there, "
            "then run the command again (nothing acknowledged is lost)"
        )
    if isinstance(err, OSError):
        named = f": {err.filename}" if err.filename else ""
        return f"{err.strerror or err}{named}"
    if isinstance(err, sqlite3.Error):
        if type(err) is sqlite3.DatabaseError:  # damaged (corrupt, not a database)
            return _damaged(err)
        return f"database error: {err}"
    # The bus client's errors are recognised by name, so reports need not import it.
    if type(err).__name__ in _HUB_GONE:
        return (
            f"the hub stopped answering ({err or type(err).__name__}): nothing "
            "acknowledged is lost; run the command again once it is back (`usagectl "
            "doctor` checks it)"
        )
    # Errors a user can cause say so with a class attribute.
    if getattr(err, "user_facing", False):
        return str(err)
    return None


_HUB_GONE = frozenset(
    {
        "ConnectionClosedError",
        "NoServersError",
        "StaleConnectionError",
        "UnexpectedEOF",
        "NoRespondersError",
        "PublishFailed",
        "TimeoutError",
    }
)


def _home() -> str:
    try:
        return str(load_settings().home)
    except Exception:
        return "."


def _damaged(err: sqlite3.Error) -> str:
    """Which file is damaged, and the fix: the read model is rebuilt by replay."""
    from .doctor import damaged_read_model

    try:
        db_path = load_settings().db_path
    except Exception:
        return f"a usagectl database is damaged: {err}"
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            intact = conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        intact = False
    return f"a usagectl database is damaged: {err}" if intact else damaged_read_model(db_path, err)


def _fail(message: str) -> NoReturn:
    print(f"usagectl: {message}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
