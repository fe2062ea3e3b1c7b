"""`usagectl config show`: the effective configuration, where each value came from, secrets
masked."""

from __future__ import annotations

import json
import os
import re
from typing import Annotated, Any

import typer
from usagectl.processors.app import config
from usagectl.processors.app.settings import load_settings

group = typer.Typer(help="The config file (config.toml in the data directory) and its overrides.")
MASK = "********"


def mask(key: str, value: Any) -> Any:
    """Passwords and tokens go; user names stay (they say which identity is in use). A URL's
    embedded password goes too."""
    if value in (None, ""):
        return value
    if key in config.SECRET_KEYS:
        return MASK
    if key == "hub.url":
        return re.sub(r"(://[^:/@]*):[^@/]*@", rf"\1:{MASK}@", str(value))
    return value


def shown(env: dict[str, str] | None = None) -> dict[str, Any]:
    environ = dict(os.environ) if env is None else env
    settings = load_settings(environ)
    file = config.read_config(settings.config_file) if settings.config_file else None
    values = config.effective(file or config.ConfigFile(), environ)
    rows = {key: {"value": mask(key, v), "source": src} for key, (v, src) in values.items()}
    rows["machine"]["value"] = settings.machine
    rows["account"]["value"] = settings.account
    rows["hub.url"]["value"] = mask("hub.url", settings.nats_url) or "embedded"
    resolved = {
        "hub.creds": settings.bus_creds,
        "hub.nkey_seed": settings.bus_nkey_seed,
        "hub.tls_ca": settings.tls_ca,
        "hub.tls_cert": settings.tls_cert,
        "hub.tls_key": settings.tls_key,
    }
    for key, value in resolved.items():
        rows[key]["value"] = value
    return {
        "config_file": str(settings.config_file),
        "config_file_exists": bool(settings.config_file and settings.config_file.exists()),
        "data_dir": str(settings.home),
        "settings": rows,
        "sections": sorted(k for k, v in settings.sections.items() if v),
    }


def _toml(value: Any) -> str:
    return json.dumps(value) if value is not None else "(unset)"


@group.command("show")
def show(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the effective config with secrets masked, and where each value came from."""
    data = shown()
    if json_out:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    state = "" if data["config_file_exists"] else " (not present: defaults and env only)"
    typer.echo(f"# config file: {data['config_file']}{state}")
    typer.echo(f"# data dir:    {data['data_dir']}")
    for key, row in data["settings"].items():
        typer.echo(f"{key:<20} = {_toml(row['value']):<40} # {row['source']}")
    for section in data["sections"]:
        typer.echo(f"[{section}] present (shown by its owner, e.g. `usagectl {section}`)")


@group.command("path")
def path() -> None:
    """Print where the config file is read from."""
    typer.echo(str(load_settings().config_file))
