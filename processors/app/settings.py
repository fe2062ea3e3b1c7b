"""Settings: where data lives, who this machine is, where the hub is and how to reach it.

Read from the config file in the data directory, each key overridable by an environment
variable (see ``config.py``)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from usagectl.projections.events import DEFAULT_PREFIX

from . import config

if TYPE_CHECKING:
    from usagectl.processors.hubconn import BusSettings


@dataclass(frozen=True)
class Settings:
    home: Path
    machine: str
    account: str
    nats_url: str | None
    claude_config_dir: str | None
    user_home: Path
    xdg_config_home: str | None
    bus_user: str | None = None
    bus_password: str | None = None
    bus_token: str | None = None
    bus_creds: str | None = None
    prefix: str = DEFAULT_PREFIX
    plans: tuple[str, ...] = ()  # project directories whose dev/active|complete plans we watch
    bus_nkey_seed: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    retention_days: float | None = None
    consumers: tuple[str, ...] = ()  # plug-in consumers `up` runs beside the processor
    config_file: Path | None = None
    sections: Mapping[str, Any] = field(default_factory=dict)  # raw tables: alerts, consumers
    replicas: int | None = None  # copies of each stream on a cluster (1, 3, 5); None: as is
    inbox_prefix: str | None = None  # default `_INBOX_<machine>` (hub permissions expect it)
    guarded: bool = False  # JetStream requests through the hub's guard (`deploy hub-config`)
    serve_guard: bool = False  # the processor serves as that guard (the hub's admin)
    metrics_project_label: bool = True  # `/metrics` series carry a project label
    otlp_enabled: bool = False  # `up` runs the OTLP/HTTP receiver (`--otlp` turns it on too)
    otlp_listen: str = "127.0.0.1:4318"

    @property
    def plans_state(self) -> Path:
        return self.home / "plans.json"

    @property
    def db_path(self) -> Path:
        return self.home / "usage.db"

    @property
    def producer_db(self) -> Path:
        return self.home / "producer.db"

    def bus(self, url: str) -> BusSettings:
        # Reports never load the bus client.
        from usagectl.processors.hubconn import BusSettings, default_inbox_prefix

        return BusSettings(
            url=url,
            prefix=self.prefix,
            user=self.bus_user,
            password=self.bus_password,
            token=self.bus_token,
            creds_file=self.bus_creds,
            nkey_seed_file=self.bus_nkey_seed,
            tls_ca=self.tls_ca,
            tls_cert=self.tls_cert,
            tls_key=self.tls_key,
            retention_days=self.retention_days,
            replicas=self.replicas,
            identity=self.machine,
            inbox_prefix=self.inbox_prefix or default_inbox_prefix(self.machine),
            guarded=self.guarded,
        )


def _default_home(env: Mapping[str, str], user_home: Path) -> Path:
    data = env.get("XDG_DATA_HOME") or str(user_home / ".local" / "share")
    return Path(data) / "usagectl"


def load_settings(env: Mapping[str, str] = os.environ) -> Settings:
    user_home = Path(env.get("HOME") or Path.home())
    given = Path(env["USAGECTL_HOME"]) if env.get("USAGECTL_HOME") else None
    home = (given or _default_home(env, user_home)).expanduser()
    path = config.config_path(env, home)
    file = config.read_config(path, explicit=bool(env.get("USAGECTL_CONFIG")))
    values = config.effective(file, env)

    def text(key: str) -> str | None:
        value = values[key][0]
        return str(value) if value not in (None, "") else None

    def file_path(key: str) -> str | None:
        value, source = values[key]
        return config.resolve_path(value, path.parent if source == "file" else Path.cwd())

    urls = config.as_list(values["hub.url"][0])
    env_plans = [d.strip() for d in env.get("USAGECTL_PLANS", "").split(",") if d.strip()]
    return Settings(
        home=home,
        machine=text("machine") or socket.gethostname(),
        account=text("account") or "default",
        nats_url=",".join(urls) or None,
        claude_config_dir=env.get("CLAUDE_CONFIG_DIR"),
        user_home=user_home,
        xdg_config_home=env.get("XDG_CONFIG_HOME"),
        bus_user=text("hub.user"),
        bus_password=text("hub.password"),
        bus_token=text("hub.token"),
        bus_creds=file_path("hub.creds"),
        prefix=text("hub.prefix") or DEFAULT_PREFIX,
        plans=tuple(env_plans or file.plans),
        bus_nkey_seed=file_path("hub.nkey_seed"),
        tls_ca=file_path("hub.tls_ca"),
        tls_cert=file_path("hub.tls_cert"),
        tls_key=file_path("hub.tls_key"),
        retention_days=config.as_days(*values["hub.retention_days"]),
        consumers=tuple(config.as_list(values["consumers.enabled"][0])),
        config_file=path,
        sections={"alerts": file.alerts, "consumers": file.consumers},
        replicas=config.as_replicas(*values["hub.replicas"]),
        inbox_prefix=text("hub.inbox_prefix"),
        guarded=config.as_bool(*values["hub.guarded"], "hub.guarded", False),
        serve_guard=config.as_bool(*values["hub.serve_guard"], "hub.serve_guard", False),
        metrics_project_label=config.as_bool(
            *values["metrics.project_label"], "metrics.project_label", True
        ),
        otlp_enabled=config.as_bool(*values["otlp.enabled"], "otlp.enabled", False),
        otlp_listen=text("otlp.listen") or "127.0.0.1:4318",
    )
