"""`usagectl hook` (what Claude Code runs) and `usagectl hooks install/uninstall`.

Plain `usagectl hook` is answered by the fast path in ``cli.entry`` before typer is imported;
this command serves ``--help`` and any other spelling, and calls the same function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from usagectl.processors.app.errors import UserError

app = typer.Typer(add_completion=False)
group = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Add or remove usagectl's command hooks in Claude Code's settings.",
)

User = Annotated[
    bool,
    typer.Option(
        "--user",
        help="the user's settings (default): first CLAUDE_CONFIG_DIR "
        "root, else ~/.claude/settings.json",
    ),
]
Project = Annotated[
    Path | None,
    typer.Option("--project", metavar="DIR", help="the project's DIR/.claude/settings.json"),
]
SettingsFile = Annotated[
    Path | None, typer.Option("--settings", metavar="PATH", help="this settings.json")
]


@app.command()
def hook() -> None:
    """Claude Code's command hook: reads the event's JSON on stdin, spools it for the hub,
    prints nothing and exits 0, whatever happens."""
    from .hook_run import run

    raise typer.Exit(run())


def _target(user: bool, project: Path | None, settings_file: Path | None) -> Path:
    from .claude_settings import default_settings_path, project_settings_path

    if user + (project is not None) + (settings_file is not None) > 1:
        raise UserError("choose one of --user, --project DIR and --settings PATH")
    if project is not None:
        if not project.expanduser().is_dir():
            raise UserError(f"--project {project}: not a directory")
        return project_settings_path(project)
    return settings_file or default_settings_path()


@group.command("install")
def install(
    user: User = False, project: Project = None, settings_file: SettingsFile = None
) -> None:
    """Add `usagectl hook` for every hook event, beside the hooks already there (a backup of
    the settings file is kept)."""
    from . import hooks_install

    path = _target(user, project, settings_file)
    typer.echo(hooks_install.install(path, hooks_install.our_command()))


@group.command("uninstall")
def uninstall(
    user: User = False, project: Project = None, settings_file: SettingsFile = None
) -> None:
    """Remove usagectl's hook entries, and only those (a backup is kept)."""
    from . import hooks_install

    typer.echo(hooks_install.uninstall(_target(user, project, settings_file)))
