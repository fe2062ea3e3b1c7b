"""The service definitions `usagectl service install` writes, as pure text: systemd user units
(Linux) and launchd agents (macOS). deploy/systemd and deploy/launchd hold the same files
rendered with example paths."""

from __future__ import annotations

import plistlib
from dataclasses import dataclass

MARKER = "Written by `usagectl service install`"
LABEL_PREFIX = "io.usagectl."


@dataclass(frozen=True)
class Unit:
    name: str  # systemd: <name>.service; launchd: io.usagectl.<short>
    short: str
    description: str
    args: tuple[str, ...]  # after the program
    program: str = "usagectl"  # "usagectl" or "nats-server"
    after: tuple[str, ...] = ()


PRODUCER = Unit(
    "usagectl-producer",
    "producer",
    "usagectl: this machine's Claude Code usage to the hub, and its read model",
    ("up",),
)
NATS = Unit(
    "usagectl-nats",
    "nats",
    "usagectl hub: nats-server with JetStream",
    ("-c",),
    program="nats-server",
)
PROCESSOR = Unit(
    "usagectl-processor",
    "processor",
    "usagectl hub: the processor (stream to read model)",
    ("processor",),
    after=("usagectl-nats.service",),
)
UNITS = (PRODUCER, PROCESSOR, NATS)


def units_for(role: str, nats_config: str | None) -> list[Unit]:
    if role == "producer":
        return [PRODUCER]
    return [NATS, PROCESSOR] if nats_config else [PROCESSOR]


def _systemd_quote(word: str) -> str:
    """One word of an ExecStart/Environment line: quoted, with systemd's specifiers escaped."""
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"' if any(c in word for c in ' \t"\\') or not word else escaped


def systemd_unit(
    unit: Unit, executable: str, env: dict[str, str], role: str, extra_args: tuple[str, ...] = ()
) -> str:
    words = [executable, *unit.args, *extra_args]
    after = " ".join(("network-online.target", *unit.after))
    lines = [
        f"# {MARKER} (role {role}); `usagectl service uninstall` removes it.",
        "# No secrets here: hub credentials are read from config.toml in USAGECTL_HOME.",
        "[Unit]",
        f"Description={unit.description}",
        f"After={after}",
        f"Wants={after}",
        # Restart for ever, but slowly: a hub that is down or refuses us is not hammered.
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(_systemd_quote(w) for w in words),
    ]
    lines += [f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted(env.items())]
    lines += [
        "Restart=on-failure",
        "RestartSec=15",
        "TimeoutStopSec=30",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def launchd_plist(
    unit: Unit,
    executable: str,
    env: dict[str, str],
    log_dir: str,
    extra_args: tuple[str, ...] = (),
) -> bytes:
    data = {
        "Label": LABEL_PREFIX + unit.short,
        "Comment": f"{MARKER}: {unit.description}",
        "ProgramArguments": [executable, *unit.args, *extra_args],
        "EnvironmentVariables": dict(sorted(env.items())),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": 15,
        "StandardOutPath": f"{log_dir}/{unit.short}.log",
        "StandardErrorPath": f"{log_dir}/{unit.short}.log",
    }
    return plistlib.dumps(data, sort_keys=False)
