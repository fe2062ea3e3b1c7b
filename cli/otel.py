"""`usagectl otel install/uninstall`: the ``env`` block Claude Code needs to send its
OpenTelemetry events to `up --otlp`'s receiver, in a settings.json (a backup is kept)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from usagectl.processors.app.errors import UserError

from .claude_settings import edit
from .hooks import Project, SettingsFile, User, _target

group = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Point Claude Code's OpenTelemetry export at this machine's `up --otlp` receiver.",
)

Endpoint = Annotated[
    str | None,
    typer.Option(
        "--endpoint", help="the receiver's URL (default: from otlp.listen, http://127.0.0.1:4318)"
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="a bearer token for a receiver off loopback (default: the "
        "serve-token in the data directory when the endpoint is not loopback)",
    ),
]


def env_block(endpoint: str, token: str | None) -> dict[str, str]:
    """The variables Claude Code reads (fall-2026 facts): events on the logs signal, OTLP over
    HTTP with protobuf; metrics stay off (the events carry every response)."""
    block = {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint.rstrip("/"),
    }
    if token:
        # The OTLP exporters read headers as URL-encoded key=value pairs.
        block["OTEL_EXPORTER_OTLP_HEADERS"] = f"Authorization=Bearer%20{token}"
    return block


def _endpoint(given: str | None) -> str:
    from usagectl.processors.app.settings import load_settings
    from usagectl.producers.otlp_receiver import parse_listen

    if given:
        if not given.startswith(("http://", "https://")):
            raise UserError(f"invalid --endpoint {given!r}: an http:// or https:// URL")
        return given
    try:
        host, port = parse_listen(load_settings().otlp_listen)
    except ValueError as err:
        raise UserError(f"otlp.listen: {err}") from None
    shown = f"[{host}]" if ":" in host else host
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}"


def _token(endpoint: str, given: str | None) -> str | None:
    from urllib.parse import urlsplit

    from usagectl.processors.app.access import access_token, is_loopback
    from usagectl.processors.app.settings import load_settings

    if given is not None:
        return given or None
    host = urlsplit(endpoint).hostname or ""
    return None if is_loopback(host) else access_token(load_settings().home)


@group.command("install")
def install(
    user: User = False,
    project: Project = None,
    settings_file: SettingsFile = None,
    endpoint: Endpoint = None,
    token: Token = None,
) -> None:
    """Write the OpenTelemetry variables into the settings' ``env`` (other keys kept)."""
    path = _target(user, project, settings_file)
    url = _endpoint(endpoint)
    block = env_block(url, _token(url, token))

    def change(data: dict[str, Any]) -> None:
        env = data.setdefault("env", {})
        if not isinstance(env, dict):
            raise UserError(f"{path}: `env` is not a JSON object; nothing changed")
        env.update(block)

    changed, backup = edit(path, change)
    if not changed:
        typer.echo(f"OpenTelemetry export to {url} already set in {path}")
        return
    kept = f" (backup: {backup})" if backup else ""
    typer.echo(
        f"Claude Code will send its OpenTelemetry events to {url} (set in {path}{kept}); "
        "run `usagectl up --otlp` to receive them"
    )


@group.command("uninstall")
def uninstall(
    user: User = False,
    project: Project = None,
    settings_file: SettingsFile = None,
) -> None:
    """Remove the variables `otel install` writes, and only those."""
    path = _target(user, project, settings_file)
    names = set(env_block("x", "x"))

    def change(data: dict[str, Any]) -> None:
        env = data.get("env")
        if isinstance(env, dict):
            for name in names & set(env):
                del env[name]
            if not env:
                del data["env"]

    changed, backup = edit(path, change)
    typer.echo(
        f"removed the OpenTelemetry variables from {path} (backup: {backup})"
        if changed
        else f"no OpenTelemetry variables in {path}: nothing to remove"
    )
