"""`usagectl statusline`: Claude Code's statusLine command, and its installer.

Plain `usagectl statusline` is normally answered by the fast path in ``cli.entry`` before this
module (and typer) is even imported; this command serves ``--help`` and the install options,
and calls the same function when typer does reach it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from usagectl.processors.app.errors import UserError

app = typer.Typer(add_completion=False)


@app.command()
def statusline(
    install: Annotated[
        bool,
        typer.Option("--install", help="write the statusLine entry into Claude Code's settings"),
    ] = False,
    uninstall: Annotated[
        bool,
        typer.Option(
            "--uninstall",
            help="remove usagectl's statusLine entry (and put back "
            "the one --install --force replaced)",
        ),
    ] = False,
    settings_file: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            help="settings.json to edit (default: first CLAUDE_CONFIG_DIR root, "
            "else ~/.claude/settings.json)",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="replace a statusLine that is not usagectl's")
    ] = False,
) -> None:
    """Claude Code's statusLine command: reads its JSON on stdin, prints one line (model,
    session / today / block cost, time left, burn rate, official 5h / 7d %)."""
    if install and uninstall:
        raise UserError("choose one of --install and --uninstall")
    if not (install or uninstall):
        if settings_file is not None or force:
            raise UserError("--settings and --force go with --install or --uninstall")
        from .statusline_run import run

        raise typer.Exit(run())
    from usagectl.processors.app.settings import load_settings

    from . import statusline_install as setup

    path = settings_file or setup.default_settings_path()
    memo = load_settings().home / "statusline-replaced.json"  # what --force replaced, per file
    if install:
        typer.echo(setup.install(path, setup.our_command(), force=force, memo=memo))
    else:
        typer.echo(setup.uninstall(path, memo=memo))
