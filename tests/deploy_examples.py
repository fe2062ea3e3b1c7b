"""The example files in deploy/, rendered by the code that writes real ones.

    python tests/deploy_examples.py    # rewrite deploy/ examples after changing a renderer

tests/test_deploy_files.py checks that the committed files are exactly these, and starts real
servers from them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from usagectl.cli import hubconfig
from usagectl.cli import service_units as su

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
MACHINES = ("laptop", "desktop")
READERS = ("dashboard",)
HUB_URL = "nats://hub.example.com:4222"
EXE = "/home/you/.venv/bin/usagectl"
NATS_EXE = "/home/you/.venv/bin/nats-server"
ENV = {"USAGECTL_HOME": "/home/you/.local/share/usagectl"}


def example_password(name: str) -> str:
    return f"change-me-{name}-password"


def members() -> list[hubconfig.Member]:
    out = [hubconfig.Member(m, "machine", example_password(m)) for m in MACHINES]
    return out + [hubconfig.Member(r, "reader", example_password(r)) for r in READERS]


def render_all() -> dict[str, str | bytes]:
    admin = example_password("hub-admin")
    files: dict[str, str | bytes] = {
        "hub.conf": hubconfig.render_hub_conf(admin, members()),
        "hub-tls.conf": hubconfig.render_hub_conf(
            admin,
            members(),
            listen="0.0.0.0:4222",
            tls=hubconfig.Tls(
                "/etc/usagectl-hub/server-cert.pem",
                "/etc/usagectl-hub/server-key.pem",
                "/etc/usagectl-hub/ca.pem",
                mutual=True,
            ),
        ),
        "machine.config.toml": hubconfig.render_machine_toml(
            "laptop", HUB_URL, user="laptop", password=example_password("laptop")
        ),
        "hub-admin.config.toml": hubconfig.render_machine_toml(
            "hub",
            "nats://127.0.0.1:4222",
            user=hubconfig.ADMIN,
            password=admin,
            role="admin",
        ),
    }
    for unit, role in ((su.PRODUCER, "producer"), (su.PROCESSOR, "hub"), (su.NATS, "hub")):
        exe, extra = (NATS_EXE, ("/home/you/usagectl-hub/hub.conf",)) if unit is su.NATS else (
            EXE, ())  # fmt: skip
        files[f"systemd/{unit.name}.service"] = su.systemd_unit(unit, exe, ENV, role, extra)
        if unit is not su.NATS:
            log_dir = "/Users/you/.local/share/usagectl/logs"
            mac_env = {"USAGECTL_HOME": "/Users/you/.local/share/usagectl"}
            mac_exe = EXE.replace("/home/", "/Users/")
            files[f"launchd/{su.LABEL_PREFIX}{unit.short}.plist"] = su.launchd_plist(
                unit, mac_exe, mac_env, log_dir
            )
    return files


def main() -> int:
    for name, content in render_all().items():
        path = DEPLOY / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
