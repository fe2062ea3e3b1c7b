"""The ``[alerts]`` table of config.toml, validated into rules and sinks; every mistake is one
line naming the rule or sink and the key.

    [alerts]
    timezone = "Europe/Berlin"   # days, weeks and months of budgets (default: the system's)
    max_age = "24h"              # windows that ended longer ago are recorded, not sent ("none")
    evaluate_every = "15s"       # time-based rules: silence, projected overrun, burn rate

    [[alerts.rules]]
    name = "daily-budget"
    kind = "daily_cost"
    threshold = 20.0             # USD
    alert_at = 0.8               # fire at 80 % of it

    [[alerts.sinks]]
    type = "webhook"
    url_env = "SLACK_WEBHOOK_URL"   # or url = "https://hooks.slack.com/services/..."
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from usagectl.projections.alerts import (
    BLOCK_KINDS,
    BUDGETS,
    KINDS,
    LEVELS,
    OFFICIAL,
    PERIODS,
    PLANS,
    Rule,
)
from usagectl.projections.reports import WEEKDAYS

SINK_TYPES = ("log", "desktop", "webhook", "nats")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class AlertConfigError(Exception):
    """The ``[alerts]`` table cannot be used; the message says where and why."""

    user_facing = True


class RuleSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    kind: str
    threshold: float | None = None
    alert_at: float = 1.0
    plan: str | None = None
    period: str = "day"
    project: str | None = None
    account: str | None = None
    minutes: float | None = None
    level: str | None = None
    machines: list[str] = []


class SinkSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    type: str
    name: str | None = None
    url: str | None = None
    url_env: str | None = None
    retries: int = 8
    backoff: str | float = "1s"
    timeout: str | float = "10s"


class AlertsSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    rules: list[RuleSpec] = []
    sinks: list[SinkSpec] = []
    timezone: str | None = None
    max_age: str | float = "24h"
    evaluate_every: str | float = "15s"
    start_of_week: str = "sunday"


@dataclass(frozen=True)
class Sink:
    """A sink as configured; ``url`` is a secret (shown only masked)."""

    name: str
    type: str
    url: str | None = None
    retries: int = 8
    backoff_s: float = 1.0
    timeout_s: float = 10.0


@dataclass(frozen=True)
class AlertsConfig:
    rules: tuple[Rule, ...]
    sinks: tuple[Sink, ...]
    tz: ZoneInfo
    max_age_ms: int | None
    evaluate_every_s: float
    start_of_week: str

    @property
    def needs_blocks(self) -> bool:
        return any(r.kind in BLOCK_KINDS for r in self.rules)


def duration_s(value: str | float, what: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(str(value))
        if match is None:
            raise AlertConfigError(f"[alerts] {what} = {value!r}: use e.g. 90s, 15m, 24h or 7d")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if not math.isfinite(seconds) or seconds < 0:
        raise AlertConfigError(f"[alerts] {what} must be a positive duration")
    return seconds


def _rule(spec: RuleSpec) -> Rule:
    where = f"[alerts] rule {spec.name!r}"
    if spec.kind not in KINDS:
        raise AlertConfigError(
            f"{where}: unknown kind {spec.kind!r} (choose one of {', '.join(KINDS)})"
        )
    if not math.isfinite(spec.alert_at) or not 0 < spec.alert_at <= 1:
        raise AlertConfigError(f"{where}: alert_at must be a fraction in (0, 1], e.g. 0.8")
    threshold = spec.threshold
    plan = spec.plan
    if spec.kind in ("block_tokens", "block_overrun", "block_cost"):
        if plan is None:
            plan = "custom" if threshold is not None else None
        if plan not in PLANS:
            raise AlertConfigError(
                f"{where}: plan must be one of {', '.join(PLANS)} (custom: threshold = N)"
            )
        if plan != "custom":
            threshold = 0.0 if threshold is None else threshold
    elif plan is not None:
        raise AlertConfigError(
            f"{where}: plan applies to block_tokens, block_cost and block_overrun only"
        )
    if spec.kind == "burn_rate" and spec.level is not None:
        if spec.level.lower() not in LEVELS:
            raise AlertConfigError(f"{where}: level must be moderate or high")
        threshold = float(LEVELS[spec.level.lower()])
    if spec.kind == "silent":
        threshold = spec.minutes if spec.minutes is not None else threshold
    if spec.kind == "new_machine":
        threshold = 1.0
    if threshold is None:
        need = "minutes" if spec.kind == "silent" else "threshold"
        raise AlertConfigError(f"{where}: {spec.kind} needs {need}")
    if (
        not math.isfinite(threshold)
        or threshold < 0
        or (threshold == 0 and plan in (None, "custom"))
    ):
        raise AlertConfigError(f"{where}: bad threshold {threshold!r}: a positive number")
    if spec.kind in OFFICIAL and threshold > 100:
        raise AlertConfigError(f"{where}: threshold is a percentage (0-100)")
    period = BUDGETS.get(spec.kind, spec.period)
    if period not in PERIODS:
        raise AlertConfigError(f"{where}: period must be day, week or month")
    return Rule(
        name=spec.name,
        kind=spec.kind,
        threshold=float(threshold),
        alert_at=spec.alert_at,
        plan=plan,
        period=period,
        project=spec.project,
        account=spec.account,
        machines=tuple(spec.machines),
    )


def _sink(spec: SinkSpec, env: Mapping[str, str]) -> Sink:
    name = spec.name or spec.type
    where = f"[alerts] sink {name!r}"
    if spec.type not in SINK_TYPES:
        raise AlertConfigError(
            f"{where}: unknown type {spec.type!r} (choose one of {', '.join(SINK_TYPES)})"
        )
    if not NAME.fullmatch(name):
        raise AlertConfigError(f"{where}: a name is letters, digits, '-' and '_'")
    url = spec.url
    if spec.type == "webhook":
        if spec.url_env:
            url = env.get(spec.url_env) or None
            if url is None:
                raise AlertConfigError(f"{where}: environment variable {spec.url_env} is not set")
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AlertConfigError(f"{where}: url must be an http(s) URL")
    elif url or spec.url_env:
        raise AlertConfigError(f"{where}: url applies to webhook sinks only")
    if spec.retries < 0:
        raise AlertConfigError(f"{where}: retries must be 0 or more")
    return Sink(
        name,
        spec.type,
        url,
        spec.retries,
        duration_s(spec.backoff, f"{name}.backoff"),
        duration_s(spec.timeout, f"{name}.timeout") or 10.0,
    )


def system_zone() -> ZoneInfo:
    """The system's zone with its rules (as reports use by default); UTC if it names none."""
    import tzlocal

    try:
        return tzlocal.get_localzone()
    except (ZoneInfoNotFoundError, ValueError, LookupError):
        return ZoneInfo("UTC")


def _zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    if name is None:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AlertConfigError(f"[alerts] timezone {name!r} is not an IANA time zone") from None


def _where(err: msgspec.ValidationError) -> str:
    text = str(err)
    message, _, path = text.partition(" - at `$")
    path = path.rstrip("`")
    match = re.match(r"^\.(rules|sinks)\[(\d+)\]", path)
    if match is not None:  # users count TOML tables from 1
        path = f"{match.group(1)} #{int(match.group(2)) + 1}{path[match.end() :]}"
    return f"[alerts] {message}" + (f" (in {path.lstrip('.')})" if path else "")


def parse_alerts(
    raw: Mapping[str, Any], default_tz: ZoneInfo, env: Mapping[str, str]
) -> AlertsConfig:
    """Validate the raw ``[alerts]`` table; raises AlertConfigError with one line."""
    try:
        spec = msgspec.convert(dict(raw), AlertsSpec)
    except msgspec.ValidationError as err:
        raise AlertConfigError(_where(err)) from None
    rules = []
    for r in spec.rules:
        if not NAME.fullmatch(r.name):
            raise AlertConfigError(
                f"[alerts] rule {r.name!r}: a name is letters, digits, '-' and '_' (it is used in "
                "alert ids and NATS subjects)"
            )
        rules.append(_rule(r))
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise AlertConfigError(f"[alerts] rule names must be unique: {', '.join(twice)}")
    sinks = tuple(_sink(s, env) for s in spec.sinks) or (Sink("log", "log"),)
    sink_names = [s.name for s in sinks]
    if len(set(sink_names)) != len(sink_names):
        raise AlertConfigError("[alerts] sinks of one type need distinct names (name = ...)")
    if spec.start_of_week not in WEEKDAYS:
        raise AlertConfigError("[alerts] start_of_week must be a weekday name, e.g. monday")
    max_age = None
    if not (isinstance(spec.max_age, str) and spec.max_age.strip().lower() == "none"):
        max_age = round(duration_s(spec.max_age, "max_age") * 1000)
    every = duration_s(spec.evaluate_every, "evaluate_every")
    if every <= 0:
        raise AlertConfigError("[alerts] evaluate_every must be more than 0")
    return AlertsConfig(
        tuple(rules), sinks, _zone(spec.timezone, default_tz), max_age, every, spec.start_of_week
    )
