"""Settings from the environment: where data lives, who this machine is, where the hub is."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from usagectl.projections.events import DEFAULT_PREFIX

if TYPE_CHECKING:
    from usagectl.processors.bus import BusSettings


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
        from usagectl.processors.bus import BusSettings  # reports never load the bus client

        return BusSettings(
            url=url,
            prefix=self.prefix,
            user=self.bus_user,
            password=self.bus_password,
            token=self.bus_token,
            creds_file=self.bus_creds,
        )


def _default_home(env: Mapping[str, str], user_home: Path) -> Path:
    data = env.get("XDG_DATA_HOME") or str(user_home / ".local" / "share")
    return Path(data) / "usagectl"


def load_settings(env: Mapping[str, str] = os.environ) -> Settings:
    user_home = Path(env.get("HOME") or Path.home())
    home = Path(env["USAGECTL_HOME"]) if env.get("USAGECTL_HOME") else None
    return Settings(
        home=(home or _default_home(env, user_home)).expanduser(),
        machine=env.get("USAGECTL_MACHINE") or socket.gethostname(),
        account=env.get("USAGECTL_ACCOUNT") or "default",
        nats_url=env.get("USAGECTL_NATS_URL") or None,
        claude_config_dir=env.get("CLAUDE_CONFIG_DIR"),
        user_home=user_home,
        xdg_config_home=env.get("XDG_CONFIG_HOME"),
        bus_user=env.get("USAGECTL_NATS_USER"),
        bus_password=env.get("USAGECTL_NATS_PASSWORD"),
        bus_token=env.get("USAGECTL_NATS_TOKEN"),
        bus_creds=env.get("USAGECTL_NATS_CREDS"),
        plans=tuple(d.strip() for d in env.get("USAGECTL_PLANS", "").split(",") if d.strip()),
    )
