"""`usagectl service install|uninstall|status`: usagectl as a service of this user.

Linux: a systemd user unit under ~/.config/systemd/user, enabled and started with
``systemctl --user`` when this session can reach the user manager (else the one command to run
is printed). macOS: a launchd agent under ~/Library/LaunchAgents. Roles: ``producer`` (every
machine: ``usagectl up``) and ``hub`` (the hub machine: ``usagectl processor``, and nats-server
with ``--nats-config``). Only files carrying our marker are ever replaced or removed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from usagectl.processors.app.errors import UserError
from usagectl.processors.app.settings import Settings, load_settings

from . import service_units as su

group = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Run usagectl as a service: systemd user unit (Linux) or launchd agent (macOS).",
)
ROLES = ("producer", "hub")
# What a service inherits from this shell: paths only. Secrets belong in config.toml.
CARRIED = ("USAGECTL_HOME", "USAGECTL_CONFIG", "CLAUDE_CONFIG_DIR", "USAGECTL_PLANS")

Role = Annotated[str, typer.Option(help="producer (every machine) or hub (the hub machine)")]
Platform = Annotated[str, typer.Option(help="auto, systemd or launchd")]


def _platform(choice: str) -> str:
    if choice == "auto":
        return "launchd" if sys.platform == "darwin" else "systemd"
    if choice not in ("systemd", "launchd"):
        raise UserError(f"invalid --platform {choice!r}: auto, systemd or launchd")
    return choice


def _home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def unit_dir(platform: str) -> Path:
    if platform == "launchd":
        return _home() / "Library" / "LaunchAgents"
    config = os.environ.get("XDG_CONFIG_HOME") or str(_home() / ".config")
    return Path(config) / "systemd" / "user"


def unit_path(platform: str, unit: su.Unit) -> Path:
    if platform == "launchd":
        return unit_dir(platform) / f"{su.LABEL_PREFIX}{unit.short}.plist"
    return unit_dir(platform) / f"{unit.name}.service"


def _ours(path: Path) -> bool:
    try:
        return su.MARKER in path.read_text(errors="replace")
    except OSError:
        return False


def _env(settings: Settings) -> dict[str, str]:
    env = {k: os.environ[k] for k in CARRIED if os.environ.get(k)}
    env["USAGECTL_HOME"] = str(settings.home.absolute())
    return env


def _executable(unit: su.Unit) -> str:
    if unit.program == "nats-server":
        from usagectl.processors.embedded import server_binary

        return str(Path(server_binary()).absolute())
    from .claude_settings import usagectl_path

    return usagectl_path()


def render(
    platform: str, unit: su.Unit, settings: Settings, role: str, nats_config: str | None
) -> bytes:
    extra = (nats_config,) if unit.program == "nats-server" and nats_config else ()
    exe, env = _executable(unit), _env(settings)
    if platform == "launchd":
        return su.launchd_plist(unit, exe, env, str(settings.home / "logs"), extra)
    return su.systemd_unit(unit, exe, env, role, extra).encode()


def _target(unit: su.Unit) -> str:
    return f"gui/{os.getuid()}/{su.LABEL_PREFIX}{unit.short}"


def _systemctl_reachable() -> bool:
    if shutil.which("systemctl") is None:
        return False
    try:
        probe = subprocess.run(
            ["systemctl", "--user", "show-environment"], capture_output=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _run(cmd: list[str]) -> bool:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        typer.echo(f"{' '.join(cmd)} failed: {err}", err=True)
        return False
    if done.returncode != 0:
        typer.echo(f"{' '.join(cmd)} failed: {done.stderr.strip()}", err=True)
    return done.returncode == 0


def _activate(platform: str, units: list[su.Unit], changed: bool, no_start: bool) -> None:
    if platform == "launchd":
        uid = os.getuid()
        cmds = [
            ["launchctl", "bootstrap", f"gui/{uid}", str(unit_path(platform, u))] for u in units
        ]
        if no_start or shutil.which("launchctl") is None:
            typer.echo("to start it: " + " && ".join(" ".join(c) for c in cmds))
            return
        for u in units:  # a loaded agent must be booted out before it is loaded again
            subprocess.run(["launchctl", "bootout", _target(u)], capture_output=True, timeout=30)
        for cmd in cmds:
            _run(cmd)
        return
    names = [f"{u.name}.service" for u in units]
    if no_start or not _systemctl_reachable():
        why = "" if no_start else "systemd's user manager is not reachable from here; "
        typer.echo(
            f"{why}to start it: systemctl --user daemon-reload && "
            f"systemctl --user enable --now {' '.join(names)}"
        )
        return
    _run(["systemctl", "--user", "daemon-reload"])
    verb = ["restart"] if changed else ["start"]
    if _run(["systemctl", "--user", "enable", *names]):
        _run(["systemctl", "--user", *verb, *names])
    typer.echo("started; to keep it running while you are logged out: loginctl enable-linger $USER")


def _warn_env() -> None:
    ignored = sorted(k for k in os.environ if k.startswith("USAGECTL_") and k not in CARRIED)
    if ignored:
        typer.echo(
            f"note: a service does not see {', '.join(ignored)} from this shell; put "
            "those settings in config.toml (`usagectl config path`)",
            err=True,
        )


@group.command()
def install(
    role: Role = "producer",
    nats_config: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            resolve_path=True,
            help="hub role: also run nats-server with this config (e.g. from deploy hub-config)",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print, write nothing")] = False,
    no_start: Annotated[bool, typer.Option("--no-start", help="write, do not start")] = False,
    platform: Platform = "auto",
) -> None:
    """Write the service files for a role and enable them (reinstalling is safe)."""
    if role not in ROLES:
        raise UserError(f"invalid --role {role!r}: producer or hub")
    if nats_config is not None and role != "hub":
        raise UserError("--nats-config goes with --role hub")
    kind = _platform(platform)
    settings = load_settings()
    config = str(nats_config) if nats_config else None
    units = su.units_for(role, config)
    changed = False
    for unit in units:
        path, text = unit_path(kind, unit), render(kind, unit, settings, role, config)
        if dry_run:
            typer.echo(f"# {path}\n{text.decode()}")
            continue
        if path.exists() and not _ours(path):
            raise UserError(f"{path} exists and was not written by usagectl: left alone")
        if path.exists() and path.read_bytes() == text:
            typer.echo(f"unchanged {path}")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        (settings.home / "logs").mkdir(parents=True, exist_ok=True)  # launchd's log files
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(text)
        os.replace(tmp, path)
        changed = True
        typer.echo(f"wrote {path}")
    if not dry_run:
        _warn_env()
        _activate(kind, units, changed, no_start)


@group.command()
def uninstall(
    role: Annotated[str | None, typer.Option(help="producer or hub (default: both)")] = None,
    platform: Platform = "auto",
) -> None:
    """Stop and remove the service files usagectl wrote (nothing else)."""
    if role is not None and role not in ROLES:
        raise UserError(f"invalid --role {role!r}: producer or hub")
    kind = _platform(platform)
    units = [u for r in ([role] if role else ROLES) for u in su.units_for(r, "all")]
    mine = [u for u in dict.fromkeys(units) if _ours(unit_path(kind, u))]
    if not mine:
        typer.echo("no usagectl service is installed")
        return
    if kind == "systemd" and _systemctl_reachable():
        _run(["systemctl", "--user", "disable", "--now", *(f"{u.name}.service" for u in mine)])
    elif kind == "launchd" and shutil.which("launchctl"):
        for u in mine:
            subprocess.run(["launchctl", "bootout", _target(u)], capture_output=True, timeout=30)
    for u in mine:
        unit_path(kind, u).unlink()
        typer.echo(f"removed {unit_path(kind, u)}")
    if kind == "systemd" and _systemctl_reachable():
        _run(["systemctl", "--user", "daemon-reload"])


def _state(kind: str, unit: su.Unit) -> str:
    if kind == "systemd":
        if not _systemctl_reachable():
            return "unknown (systemd's user manager is not reachable from here)"
        done = subprocess.run(
            ["systemctl", "--user", "is-active", f"{unit.name}.service"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return done.stdout.strip() or "unknown"
    if shutil.which("launchctl") is None:
        return "unknown (launchctl not found)"
    loaded = subprocess.run(["launchctl", "print", _target(unit)], capture_output=True, timeout=10)
    return "loaded" if loaded.returncode == 0 else "not loaded"


@group.command()
def status(
    json_out: Annotated[bool, typer.Option("--json")] = False, platform: Platform = "auto"
) -> None:
    """Which usagectl services are installed here and whether they run."""
    kind = _platform(platform)
    rows = []
    for unit in su.UNITS:
        path = unit_path(kind, unit)
        installed = _ours(path)
        rows.append(
            {
                "service": unit.name,
                "path": str(path),
                "installed": installed,
                "state": _state(kind, unit) if installed else "not installed",
            }
        )
    if json_out:
        typer.echo(json.dumps({"platform": kind, "services": rows}, indent=2))
        return
    for row in rows:
        where = f"  {row['path']}" if row["installed"] else ""
        typer.echo(f"{row['service']:<20} {row['state']}{where}")
