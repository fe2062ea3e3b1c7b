"""The config file: ``config.toml`` in the data directory (or ``USAGECTL_CONFIG``).

Every key can be overridden by an environment variable, so a service unit or a test can change
one thing without editing the file. Sections this module does not know (``[alerts]``, a
consumer's own ``[consumers.<name>]`` table) are kept raw for their owners to validate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from .errors import UserError

FILE_NAME = "config.toml"


class ConfigError(UserError):
    """The config file cannot be used; the message names the file and the key."""


class HubSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    url: str | list[str] | None = None
    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds: str | None = None
    nkey_seed: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    retention_days: float | None = None
    prefix: str | None = None
    replicas: int | None = None
    inbox_prefix: str | None = None
    guarded: bool | str | None = None  # JetStream requests go through the hub's guard
    serve_guard: bool | str | None = None  # this processor is the hub's guard (its admin)


class MetricsSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    project_label: bool | str | None = None  # `/metrics` labels series by project (default on)


class OtlpSection(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    enabled: bool | str | None = None  # `up` runs the OTLP/HTTP receiver
    listen: str | None = None  # host:port, default 127.0.0.1:4318


class ConfigFile(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    machine: str | None = None
    account: str | None = None
    plans: list[str] = []
    hub: HubSection = HubSection()
    consumers: dict[str, Any] = {}
    alerts: dict[str, Any] = {}
    metrics: MetricsSection = MetricsSection()
    otlp: OtlpSection = OtlpSection()


# Each setting: (config-file key path, environment variable). The env var wins.
KEYS: dict[str, tuple[str, str]] = {
    "machine": ("machine", "USAGECTL_MACHINE"),
    "account": ("account", "USAGECTL_ACCOUNT"),
    "hub.url": ("hub.url", "USAGECTL_NATS_URL"),
    "hub.user": ("hub.user", "USAGECTL_NATS_USER"),
    "hub.password": ("hub.password", "USAGECTL_NATS_PASSWORD"),
    "hub.token": ("hub.token", "USAGECTL_NATS_TOKEN"),
    "hub.creds": ("hub.creds", "USAGECTL_NATS_CREDS"),
    "hub.nkey_seed": ("hub.nkey_seed", "USAGECTL_NATS_NKEY"),
    "hub.tls_ca": ("hub.tls_ca", "USAGECTL_NATS_TLS_CA"),
    "hub.tls_cert": ("hub.tls_cert", "USAGECTL_NATS_TLS_CERT"),
    "hub.tls_key": ("hub.tls_key", "USAGECTL_NATS_TLS_KEY"),
    "hub.retention_days": ("hub.retention_days", "USAGECTL_RETENTION_DAYS"),
    "hub.prefix": ("hub.prefix", "USAGECTL_PREFIX"),
    "hub.replicas": ("hub.replicas", "USAGECTL_NATS_REPLICAS"),
    "hub.inbox_prefix": ("hub.inbox_prefix", "USAGECTL_NATS_INBOX_PREFIX"),
    "hub.guarded": ("hub.guarded", "USAGECTL_NATS_GUARDED"),
    "hub.serve_guard": ("hub.serve_guard", "USAGECTL_NATS_SERVE_GUARD"),
    "consumers.enabled": ("consumers.enabled", "USAGECTL_CONSUMERS"),
    "metrics.project_label": ("metrics.project_label", "USAGECTL_METRICS_PROJECT_LABEL"),
    "otlp.enabled": ("otlp.enabled", "USAGECTL_OTLP"),
    "otlp.listen": ("otlp.listen", "USAGECTL_OTLP_LISTEN"),
}
SECRET_KEYS = frozenset({"hub.password", "hub.token"})
PATH_KEYS = frozenset({"hub.creds", "hub.nkey_seed", "hub.tls_ca", "hub.tls_cert", "hub.tls_key"})


def config_path(env: Mapping[str, str], home: Path) -> Path:
    explicit = env.get("USAGECTL_CONFIG")
    return Path(explicit).expanduser() if explicit else home / FILE_NAME


def read_config(path: Path, explicit: bool = False) -> ConfigFile:
    """The file as typed sections; a missing file is an empty config unless it was named."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file {path} does not exist") from None
        return ConfigFile()
    import tomllib  # only with a file: `hook` and `statusline` run often and have none to read

    try:
        raw = tomllib.loads(data.decode("utf-8"))
        return msgspec.convert(raw, ConfigFile)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    except msgspec.ValidationError as err:
        raise ConfigError(f"{path}: {_where(err)}") from None


def _where(err: msgspec.ValidationError) -> str:
    """msgspec says ``... - at `$.hub```; users know TOML keys, not JSON paths."""
    text = str(err)
    if " - at `$." in text:
        message, _, path = text.partition(" - at `$.")
        return f"{message} (in {path.rstrip('`')})"
    return text


def file_value(config: ConfigFile, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
        if value is None:
            return None
    return value


def effective(config: ConfigFile, env: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """Every known setting with where it came from: ``env VAR``, ``file`` or ``default``."""
    out: dict[str, tuple[Any, str]] = {}
    for name, (dotted, var) in KEYS.items():
        if env.get(var):
            out[name] = (env[var], f"env {var}")
        else:
            value = file_value(config, dotted)
            out[name] = (value, "file" if value not in (None, [], "") else "default")
    return out


def as_list(value: Any) -> list[str]:
    """A URL or name list given as a TOML array or a comma-separated string."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def as_days(value: Any, source: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        days = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"hub.retention_days ({source}) must be a number of days") from None
    if days < 0 or days != days:
        raise ConfigError(f"hub.retention_days ({source}) must be 0 (keep) or more")
    return days or None


def as_replicas(value: Any, source: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        replicas = int(str(value))
    except ValueError:
        raise ConfigError(f"hub.replicas ({source}) must be 1, 3 or 5") from None
    if replicas not in (1, 3, 5):
        raise ConfigError(f"hub.replicas ({source}) must be 1, 3 or 5, not {replicas}")
    return replicas


def as_bool(value: Any, source: str, key: str, default: bool) -> bool:
    """true/false from TOML, or 1/0, true/false, yes/no, on/off from the environment."""
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key} ({source}) must be true or false, not {value!r}")


def resolve_path(value: Any, base: Path) -> str | None:
    """Relative paths in the file are relative to the file, as users expect of a config."""
    if value in (None, ""):
        return None
    path = Path(os.path.expanduser(str(value)))
    return str(path if path.is_absolute() else base / path)
