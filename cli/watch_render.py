"""What `watch` draws, as pure functions of the live view: a rich renderable, or JSON."""

from __future__ import annotations

import json
import time
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from usagectl.projections.figures import percent, usd
from usagectl.projections.limits import FIVE_HOUR, SEVEN_DAY
from usagectl.projections.live import LiveView, Share
from usagectl.projections.reports import iso_ms

from .dash_render import NOT_LIVE, when
from .render import short_model

LEVEL_STYLE = {"NORMAL": "green", "MODERATE": "yellow", "HIGH": "bold red"}


def _minutes(ms: int) -> str:
    m = max(0, ms) // 60_000
    return f"{m // 60}h {m % 60:02d}m"


def _ago(now_ms: int, ts_ms: int) -> str:
    s = max(0, now_ms - ts_ms) // 1000
    return f"{s}s ago" if s < 60 else f"{s // 60}m ago" if s < 3600 else f"{s // 3600}h ago"


def header(v: LiveView, online: int, tz: ZoneInfo) -> Text:
    text = Text.assemble(("usagectl watch", "bold"), "  ")
    if online == 0:  # no heartbeat and no usage for 2 minutes: nothing keeps this current
        text.append(f"{NOT_LIVE} · ", style="bold yellow")
    sessions, machines = len(v.sessions), f"{online} machine{'' if online == 1 else 's'}"
    text.append(
        f"{sessions} session{'' if sessions == 1 else 's'} in this block · {machines} online · "
    )
    if v.block is not None:
        left = v.block.end_ms - v.now_ms
        text.append(f"block resets {when(v.block.end_ms, v.now_ms, tz)} ({_minutes(left)} left)")
    else:
        text.append("no active block", style="dim")
    return text


def usage_panel(v: LiveView, compact: bool, online: int = 1) -> RenderableType:
    b = v.block
    if b is None:
        why = "" if online else f" ({NOT_LIVE})"
        return Panel(
            Text(f"No usage in the last 5 hours{why}.", style="dim"), title="current block"
        )
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column()
    if v.limit:
        used = v.limit_tokens / v.limit
        bar = ProgressBar(total=v.limit, completed=min(v.limit_tokens, v.limit), width=30)
        grid.add_row(f"tokens {v.limit_tokens:,} / {v.limit:,} ({used:.0%})", bar)
        grid.add_row("", Text(f"limit: {v.limit_source}", style="dim"))
    grid.add_row(
        "tokens",
        f"{b.total_tokens:,} (in {b.input:,} · out {b.output:,} · cache "
        f"{b.cache_create + b.cache_read:,})",
    )
    grid.add_row("block cost", usd(b.cost()))
    if v.rate is not None:
        level = Text(v.level, style=LEVEL_STYLE[v.level])
        grid.add_row(
            "burn rate",
            Text.assemble(
                f"{v.rate.tokens_per_minute:,.0f} tok/min · {usd(v.rate.cost_per_hour)}/h  ", level
            ),
        )
    if v.projected is not None:
        grid.add_row(
            "projected",
            f"{v.projected.total_tokens:,} tokens · ${v.projected.total_cost:,.2f} by block end",
        )
    if v.official:
        grid.add_row("official", _official(v))
    return Panel(grid, title="current block (all machines)", expand=not compact)


def _official(v: LiveView) -> str:
    """Claude Code's own figures (the only ground truth) beside our estimate, and the 5-hour
    figure split by machine with our token shares."""
    parts = []
    five, seven = v.official.get(FIVE_HOUR), v.official.get(SEVEN_DAY)
    if five is not None:
        ours = f" (our estimate {percent(v.limit_tokens / v.limit * 100)})" if v.limit else ""
        split = ", ".join(f"{m.name} {percent(five.used_pct * m.share)}" for m in v.machines)
        parts.append(f"5-hour {percent(five.used_pct)}{ours}" + (f" = {split}" if split else ""))
    if seven is not None:
        parts.append(f"7-day {percent(seven.used_pct)}")
    return " · ".join(parts) + "  (Claude Code)"


def machines_table(v: LiveView, compact: bool) -> Table:
    t = Table(title="machines", header_style="bold", expand=False)
    cols = ["machine", "tokens", "share", "block cost", "burn", "last seen"]
    for c in cols[: 4 if compact else None]:
        t.add_column(c, justify="left" if c == "machine" else "right", no_wrap=True)
    for m in v.machines:
        row: list[str | Text] = [
            m.name,
            f"{m.tokens:,}",
            f"{m.share:.0%}",
            f"${m.cost:,.2f}",
            Text(m.level, style=LEVEL_STYLE[m.level]),
            _ago(v.now_ms, m.last_ms),
        ]
        t.add_row(*row[: 4 if compact else None])
    return t


def projects_table(v: LiveView, compact: bool, tz: ZoneInfo) -> Table:
    t = Table(title="projects and active sessions", header_style="bold")
    cols = [
        "project / session",
        "tokens",
        "share",
        "block cost",
        "started",
        "elapsed",
        "burn",
        "machine",
    ]
    for c in cols[: 4 if compact else None]:
        t.add_column(
            c, justify="left" if c in (cols[0], "machine") else "right", no_wrap=c != cols[0]
        )
    for p in v.projects:
        t.add_row(*_share_row(p, v, tz, compact, p.name.rstrip("/").rsplit("/", 1)[-1] or p.name))
        for s in v.sessions:
            if s.parent == p.name:
                t.add_row(
                    *_share_row(s, v, tz, compact, "  └ " + s.name.rsplit("/", 1)[-1][:8]),
                    style="dim",
                )
    return t


def _share_row(s: Share, v: LiveView, tz: ZoneInfo, compact: bool, label: str) -> list[Any]:
    row = [
        label,
        f"{s.tokens:,}",
        f"{s.share:.0%}",
        f"${s.cost:,.2f}",
        when(s.first_ms, v.now_ms, tz),
        _minutes(v.now_ms - s.first_ms),
        Text(s.level, style=LEVEL_STYLE[s.level]),
        s.machine,
    ]
    return row[: 4 if compact else None]


def render(v: LiveView, online: int, tz: ZoneInfo, compact: bool) -> RenderableType:
    # Warnings come right under the header: a short terminal crops the bottom, never them.
    parts: list[RenderableType] = [header(v, online, tz)]
    for w in v.warnings:
        parts.append(Text(f"⚠ {w}", style="bold red" if "EXCEEDED" in w else "yellow"))
    parts.append(usage_panel(v, compact, online))
    if v.machines:
        parts.append(machines_table(v, compact))
    if v.projects:
        parts.append(projects_table(v, compact, tz))
    return Group(*parts)


def _share_json(s: Share) -> dict[str, Any]:
    return {
        "name": s.name,
        "tokens": s.tokens,
        "cost": s.cost,
        "share": s.share,
        "firstActivity": iso_ms(s.first_ms),
        "lastActivity": iso_ms(s.last_ms),
        "burnLevel": s.level,
        "machine": s.machine,
    }


def view_json(v: LiveView, online: int, seq: int) -> dict[str, Any]:
    b = v.block
    block = None
    if b is not None:
        block = {
            "startTime": iso_ms(b.start_ms),
            "endTime": iso_ms(b.end_ms),
            "remainingMinutes": round((b.end_ms - v.now_ms) / 60_000),
            "tokenCounts": {
                "inputTokens": b.input,
                "outputTokens": b.output,
                "cacheCreationInputTokens": b.cache_create,
                "cacheReadInputTokens": b.cache_read,
            },
            "totalTokens": b.total_tokens,
            "costUSD": b.cost(),
            "entries": b.entries,
            "models": [short_model(m) for m in b.models],
        }
    official = {
        kind: {
            "usedPercent": o.used_pct,
            "resetsAt": None if o.resets_ms is None else iso_ms(o.resets_ms),
            "observedAt": iso_ms(o.ts_ms),
            "machine": o.machine,
            "byMachine": {m.name: o.used_pct * m.share for m in v.machines},
        }
        for kind, o in v.official.items()
    } or None
    return {
        "seq": seq,
        "now": iso_ms(v.now_ms),
        "machinesOnline": online,
        "block": block,
        "burnRate": None
        if v.rate is None
        else {
            "tokensPerMinute": v.rate.tokens_per_minute,
            "costPerHour": v.rate.cost_per_hour,
            "level": v.level,
        },
        "projection": None
        if v.projected is None
        else {"totalTokens": v.projected.total_tokens, "totalCost": v.projected.total_cost},
        "limit": None
        if v.limit is None
        else {"tokens": v.limit, "used": v.limit_tokens, "source": v.limit_source},
        "official": official,
        "machines": [_share_json(m) for m in v.machines],
        "projects": [_share_json(p) for p in v.projects],
        "sessions": [_share_json(s) for s in v.sessions],
        "warnings": v.warnings,
    }


def emit_json(payload: dict[str, object]) -> None:
    print(json.dumps(payload, separators=(",", ":")), flush=True)


def now_ms() -> int:
    return int(time.time() * 1000)
