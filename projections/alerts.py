"""Alert rules as pure functions: a rule measured in one window gives a Reading; it holds when
the figure reaches the rule's trigger (``threshold * alert_at``).

Every reading names its window (a day, a week, a month, a 5-hour block, an official rate-limit
window, a machine's silence), and the alert id is ``<rule>@<window>``: the same crossing seen
again — after a restart, a redelivery or a replay — has the same id, so it fires once per
window; a new window is a new id (the rule re-arms). Nothing here reads the clock: ``now_ms``
is passed in; zones are passed in as ``ZoneInfo``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .blocks import Block, burn_rate, projection
from .limits import FIVE_HOUR, SEVEN_DAY, Observation, expired
from .live import HIGH_TPM, MODERATE_TPM, PLAN_TOKENS
from .reports import iso_ms, week_start

MINUTE_MS, HOUR_MS = 60_000, 3_600_000
PERIODS = ("day", "week", "month")
BUDGETS = {"daily_cost": "day", "weekly_cost": "week", "monthly_cost": "month"}
BLOCK_KINDS = ("block_tokens", "block_cost", "block_overrun", "burn_rate")
OFFICIAL = {"official_5h": FIVE_HOUR, "official_7d": SEVEN_DAY}
KINDS = (*BUDGETS, "project_cost", *BLOCK_KINDS, *OFFICIAL, "silent", "new_machine")
PLANS = (*PLAN_TOKENS, "custom", "p90")
# Claude-Code-Usage-Monitor's 5-hour cost limits per plan (community estimates, USD), beside
# its token limits (projections.live.PLAN_TOKENS).
PLAN_COST = {"pro": 18.0, "max5": 35.0, "max20": 140.0}
LEVELS = {"moderate": MODERATE_TPM, "high": HIGH_TPM}
NEW_MACHINE_MS = 10 * MINUTE_MS  # how long a "new machine" alert stays firing
DEFAULT_ACCOUNT = "default"


@dataclass(frozen=True)
class Rule:
    """One validated ``[[alerts.rules]]`` entry (see processors.alert_config)."""

    name: str
    kind: str
    threshold: float = 0.0  # USD, tokens, tokens/min, percent or minutes, by kind
    alert_at: float = 1.0
    plan: str | None = None  # block rules: pro | max5 | max20 | custom | p90
    period: str = "day"  # project_cost
    project: str | None = None  # project_cost: one project (else each project)
    account: str | None = None  # only this account (budgets: else all accounts together)
    machines: tuple[str, ...] = ()  # silent / new_machine: only these machines

    @property
    def trigger(self) -> float:
        return self.threshold * self.alert_at


@dataclass(frozen=True)
class Reading:
    """A rule's figure in one window; the alert it may raise is ``id``."""

    rule: Rule
    account: str
    window: str
    start_ms: int
    end_ms: int | None  # None: open until the condition goes away (silence)
    value: float
    limit: float  # the full threshold the figure is measured against
    trigger: float  # the figure at which the alert fires
    unit: str  # usd | tokens | tokens/min | percent | minutes | machine
    text: str

    @property
    def holds(self) -> bool:
        return self.value >= self.trigger

    @property
    def id(self) -> str:
        return f"{self.rule.name}@{self.window}"


@dataclass(frozen=True)
class PeriodWindow:
    period: str
    key: str
    start_ms: int
    end_ms: int


def _local_midnight_ms(day: date, tz: ZoneInfo) -> int:
    # A midnight that does not exist (a DST jump at 00:00) maps to the first instant of the day.
    return int(datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC).timestamp() * 1000)


def period_window(period: str, ts_ms: int, tz: ZoneInfo, start_of_week: str) -> PeriodWindow:
    """The day, week or month in ``tz`` holding ``ts_ms`` — the periods `daily`, `weekly` and
    `monthly` report (bounds fall on 15-minute buckets, as every real offset does)."""
    day = datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(tz).date()
    if period == "day":
        first, after, key = day, day + timedelta(days=1), day.isoformat()
    elif period == "week":
        first = week_start(day, start_of_week)
        after, key = first + timedelta(days=7), first.isoformat()
    elif period == "month":
        first = day.replace(day=1)
        after, key = (first + timedelta(days=32)).replace(day=1), first.isoformat()[:7]
    else:
        raise ValueError(period)
    return PeriodWindow(period, key, _local_midnight_ms(first, tz), _local_midnight_ms(after, tz))


def _scoped(account: str, key: str) -> str:
    return key if account == DEFAULT_ACCOUNT else f"{account}/{key}"


def _utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _hm(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%H:%M UTC")


def _pct(value: float, limit: float) -> str:
    return f"{value / limit:.0%}" if limit else "n/a"


def budget_reading(
    rule: Rule, account: str, window: PeriodWindow, cost_usd: float, project: str | None = None
) -> Reading:
    """A daily / weekly / monthly budget (all projects, or ``project``'s own)."""
    key = window.key if project is None else f"{window.key}:{project}"
    what = {"day": "daily", "week": "weekly", "month": "monthly"}[window.period]
    scope = f" for {project}" if project is not None else ""
    when = window.key if window.period != "week" else f"week of {window.key}"
    text = (
        f"{what} cost{scope} ${cost_usd:,.2f} is {_pct(cost_usd, rule.threshold)} of the "
        f"${rule.threshold:,.2f} budget ({when})"
    )
    return Reading(
        rule,
        account,
        _scoped(account, key),
        window.start_ms,
        window.end_ms,
        cost_usd,
        rule.threshold,
        rule.trigger,
        "usd",
        text,
    )


def p90(values: Sequence[float]) -> float | None:
    """The 90th percentile of past blocks, as `watch --token-limit p90` takes it."""
    past = sorted(values)
    return past[int(0.9 * (len(past) - 1))] if past else None


def block_limit(rule: Rule, past: Sequence[float]) -> tuple[float | None, bool, str]:
    """The rule's limit (tokens, or USD for block_cost), whether it counts input + output
    tokens only (the plans' token estimates, as Claude-Code-Usage-Monitor counts them), and
    where it came from. ``past`` holds the same measure for the account's earlier blocks."""
    named: dict[str, float] = dict(PLAN_COST if rule.kind == "block_cost" else PLAN_TOKENS)
    if rule.plan is not None and rule.plan in named:
        return named[rule.plan], rule.kind != "block_cost", f"{rule.plan} plan limit"
    if rule.plan == "p90":
        return p90(past), False, "p90 of past blocks"
    return rule.threshold, False, "limit"


def _block_tokens(block: Block, io_only: bool) -> int:
    return block.input + block.output if io_only else block.total_tokens


def block_reading(
    rule: Rule, account: str, block: Block, past: Sequence[float], now_ms: int, length_ms: int
) -> Reading | None:
    """A 5-hour block against its limit: tokens or cost so far, the projection at the current
    burn rate (active blocks only), or the burn rate itself (active blocks only)."""
    if block.is_gap or block.first_ms is None:
        return None
    key, since = _scoped(account, _utc(block.start_ms)), f"block from {_hm(block.start_ms)}"
    if rule.kind == "burn_rate":
        rate = burn_rate(block, now_ms, length_ms)
        if rate is None:
            return None
        tpm = rate.tokens_per_minute_for_indicator
        text = (
            f"burn rate {tpm:,.0f} tokens/min (input + output) in the {since}, "
            f"above {rule.threshold:,.0f}"
        )
        return Reading(
            rule,
            account,
            key,
            block.start_ms,
            block.end_ms,
            tpm,
            rule.threshold,
            rule.threshold,
            "tokens/min",
            text,
        )
    limit, io_only, source = block_limit(rule, past)
    if not limit:
        return None
    if rule.kind == "block_cost":
        cost = block.cost()
        share = _pct(cost, limit)
        text = f"5-hour {since}: cost ${cost:,.2f} is {share} of the {source} ${limit:,.2f}"
        return Reading(
            rule,
            account,
            key,
            block.start_ms,
            block.end_ms,
            cost,
            limit,
            limit * rule.alert_at,
            "usd",
            text,
        )
    measure = "input + output tokens" if io_only else "tokens"
    used = _block_tokens(block, io_only)
    if rule.kind == "block_tokens":
        text = (
            f"5-hour {since}: {used:,} {measure}, {_pct(used, limit)} of the {source} {limit:,.0f}"
        )
        return Reading(
            rule,
            account,
            key,
            block.start_ms,
            block.end_ms,
            used,
            limit,
            limit * rule.alert_at,
            "tokens",
            text,
        )
    proj, rate = projection(block, now_ms, length_ms), burn_rate(block, now_ms, length_ms)
    if proj is None or rate is None:
        return None
    per_minute = rate.tokens_per_minute_for_indicator if io_only else rate.tokens_per_minute
    ahead = round(used + per_minute * proj.remaining_minutes)
    text = (
        f"5-hour {since} is projected to reach {ahead:,} {measure} by {_hm(block.end_ms)}, "
        f"{_pct(ahead, limit)} of the {source} {limit:,.0f} (now {used:,})"
    )
    return Reading(
        rule,
        account,
        key,
        block.start_ms,
        block.end_ms,
        ahead,
        limit,
        limit * rule.alert_at,
        "tokens",
        text,
    )


def official_reading(rule: Rule, account: str, obs: Observation, now_ms: int) -> Reading | None:
    """Claude Code's own utilisation of a window; the window is named by when it resets
    (rounded to the hour, so a figure reported a second apart names the same window)."""
    if expired(obs, now_ms):
        return None
    span = 5 * HOUR_MS if rule.kind == "official_5h" else 7 * 24 * HOUR_MS
    if obs.resets_ms is not None:
        end = round(obs.resets_ms / HOUR_MS) * HOUR_MS
    else:  # no reset time given: the window holding the observation, on a fixed grid
        end = (obs.ts_ms // span + 1) * span
    label = "5-hour" if rule.kind == "official_5h" else "7-day"
    text = (
        f"official {label} usage at {obs.used_pct:.0f}% (alert at {rule.threshold:.0f}%), "
        f"resets {_utc(end)}"
    )
    return Reading(
        rule,
        account,
        _scoped(account, _utc(end)),
        end - span,
        end,
        obs.used_pct,
        100.0,
        rule.threshold,
        "percent",
        text,
    )


def silent_reading(rule: Rule, machine: str, last_ms: int, now_ms: int) -> Reading | None:
    """A producer's silence since its last heartbeat: one window per silence (named by that
    heartbeat), so it fires once, clears when the machine beats again, and re-arms."""
    if rule.machines and machine not in rule.machines:
        return None
    minutes = max(0, now_ms - last_ms) / MINUTE_MS
    text = f"producer on {machine} silent for {minutes:.0f} min (last heartbeat {_utc(last_ms)})"
    return Reading(
        rule,
        DEFAULT_ACCOUNT,
        f"{machine}/{_utc(last_ms)}",
        last_ms,
        None,
        minutes,
        rule.threshold,
        rule.threshold,
        "minutes",
        text,
    )


def new_machine_reading(rule: Rule, machine: str, first_ms: int) -> Reading | None:
    if rule.machines and machine in rule.machines:
        return None  # listed machines are known ones
    text = f"new machine: {machine} (first seen {_utc(first_ms)})"
    return Reading(
        rule,
        DEFAULT_ACCOUNT,
        machine,
        first_ms,
        first_ms + NEW_MACHINE_MS,
        1.0,
        1.0,
        1.0,
        "machine",
        text,
    )


def is_over(reading: Reading, now_ms: int) -> bool:
    """The window has ended: the alert (if any) is resolved, and the rule re-arms."""
    return reading.end_ms is not None and reading.end_ms <= now_ms


def is_stale(reading: Reading, now_ms: int, max_age_ms: int | None) -> bool:
    """A window that ended long before now (history seen for the first time): recorded, not
    sent."""
    return (
        max_age_ms is not None
        and reading.end_ms is not None
        and (now_ms - reading.end_ms > max_age_ms)
    )


def payload(reading: Reading, fired_ms: int, *, test: bool = False) -> dict[str, Any]:
    """What every sink sends: ``text`` (and ``content``) so Slack and Discord incoming webhooks
    take it as is, and the figures for machines. ``id`` is the idempotency key."""
    text = f"usagectl [{reading.rule.name}] {reading.text}"
    return {
        "text": text,
        "content": text,
        "id": reading.id,
        "rule": reading.rule.name,
        "kind": reading.rule.kind,
        "account": reading.account,
        "window": reading.window,
        "windowStart": iso_ms(reading.start_ms),
        "windowEnd": None if reading.end_ms is None else iso_ms(reading.end_ms),
        "value": reading.value,
        "threshold": reading.limit,
        "trigger": reading.trigger,
        "alertAt": reading.rule.alert_at,
        "unit": reading.unit,
        "firedAt": iso_ms(fired_ms),
        "test": test,
    }
