"""What `usagectl dash` draws, as pure functions of its state: rich renderables that Textual
widgets show. Nothing here reads a clock, a file or the bus."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from usagectl.projections.figures import percent, usd
from usagectl.projections.sessions import ENDED, IDLE, WAITING, WORKING, SessionLine

from .dash_data import Detail, Overview
from .render import short_model

NOT_LIVE = "not live: start `usagectl up`"
STATUS_STYLE = {WORKING: "bold green", WAITING: "yellow", IDLE: "dim", ENDED: "dim"}
_EIGHTHS = " ▏▎▍▌▋▊▉"


@dataclass(frozen=True)
class Liveness:
    """Whether something keeps the read model current, and why not."""

    live: bool
    reason: str = ""  # why not, for the header
    machines_online: int = 0


@dataclass(frozen=True)
class DashState:
    now_ms: int
    tz: ZoneInfo
    liveness: Liveness
    overview: Overview | None
    sessions: list[SessionLine] = field(default_factory=list)
    block_cost: float | None = None
    block_ends_ms: int | None = None
    detail: Detail | None = None


def when(ts_ms: int, now_ms: int, tz: ZoneInfo) -> str:
    """A time of day, with its day when it is not today."""
    at = datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(tz)
    today = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(tz).date()
    if at.date() == today:
        return f"{at:%H:%M}"
    return f"{at:%a %H:%M}" if (today - at.date()).days < 7 else f"{at:%Y-%m-%d %H:%M}"


def bar(value: float, top: float, width: int) -> str:
    """A horizontal bar in eighths of a cell: readable without colour."""
    if top <= 0 or value <= 0:
        return ""
    eighths = max(1, round(min(value / top, 1.0) * width * 8))
    return "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")


def header(s: DashState) -> Text:
    text = Text.assemble(("usagectl dash", "bold"), "  ")
    if s.liveness.live:
        text.append("● live", style="bold green")
        online = s.liveness.machines_online
        text.append(f" · {online} machine{'' if online == 1 else 's'} online")
    else:
        text.append(f"○ {NOT_LIVE}", style="bold yellow")
        if s.liveness.reason:
            text.append(f" ({s.liveness.reason})", style="yellow")
    if s.block_cost is not None and s.block_ends_ms is not None:
        text.append(f" · block {usd(s.block_cost)}, resets {when(s.block_ends_ms, s.now_ms, s.tz)}")
    return text


def sessions_panel(s: DashState, width: int) -> RenderableType:
    if not s.sessions:
        why = "" if s.liveness.live else f" ({NOT_LIVE})"
        return Text(f"No session with usage in the last 5 hours{why}.", style="dim")
    table = Table(
        header_style="bold", expand=True, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    wide = width >= 90  # room for a machine column and the whole status
    table.add_column("project", ratio=1, no_wrap=True, overflow="ellipsis", min_width=8)
    if wide:
        table.add_column("machine", no_wrap=True, overflow="ellipsis", max_width=16)
    table.add_column("status", no_wrap=True)
    table.add_column("block", justify="right", no_wrap=True)
    table.add_column("today", justify="right", no_wrap=True)
    table.add_column("last", justify="right", no_wrap=True)
    for line in s.sessions:
        project = line.project.rstrip("/").rsplit("/", 1)[-1] or line.project
        if not wide:
            project = f"{project} @{line.machine}"
        status = Text(
            line.status if wide or line.status != WAITING else "waiting",
            style=STATUS_STYLE[line.status],
        )
        if line.status_from == "activity":
            status.append("*", style="dim")
        table.add_row(
            project,
            *([line.machine] if wide else []),
            status,
            usd(line.block_cost),
            usd(line.today_cost),
            when(line.last_ms, s.now_ms, s.tz),
        )
    note = Text("* from transcript activity (no hook event seen for it)", style="dim")
    with_note = any(x.status_from == "activity" for x in s.sessions)
    return Group(table, note) if with_note else table


def daily_panel(s: DashState, width: int) -> RenderableType:
    o = s.overview
    if o is None:
        return Text("No read model yet: run `usagectl sync` or `usagectl up`.", style="yellow")
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(no_wrap=True)
    today, yesterday = o.day(o.today), o.day(date.fromordinal(o.today.toordinal() - 1))
    grid.add_row(Text("today", style="bold"), usd(today[0]), f"{today[1]:,} tokens")
    grid.add_row("yesterday", usd(yesterday[0]), f"{yesterday[1]:,} tokens")
    grid.add_row(
        f"this week (from {o.week_from:%a %d})", usd(o.week_cost), f"{o.week_tokens:,} tokens"
    )
    bars = Table.grid(padding=(0, 1))
    bars.add_column(no_wrap=True)
    bars.add_column(justify="right", no_wrap=True)
    bars.add_column(no_wrap=True)
    top = max((c for _, c, _ in o.days), default=0.0)
    room = max(8, width - 26)
    for d, cost, _ in o.days:
        label = "today" if d == o.today else f"{d:%a %d}"
        bars.add_row(label, usd(cost), bar(cost, top, room))
    parts: list[RenderableType] = [grid, Text("last 7 days", style="bold"), bars]
    if o.budgets:
        parts.append(Text("budgets", style="bold"))
        budgets = Table.grid(padding=(0, 1))
        for b in o.budgets:
            share = b.spent / b.limit if b.limit else 0.0
            style = "red" if share >= 1 else "yellow" if share >= 0.8 else "green"
            budgets.add_row(
                f"{b.name} ({b.period})",
                f"{usd(b.spent)} / {usd(b.limit)}",
                Text(bar(b.spent, b.limit, max(8, width - 40)), style=style),
                percent(share * 100),
            )
        parts.append(budgets)
    return Group(*parts)


def _title(d: Detail) -> str:
    if d.view == "day":
        return f"{d.first:%A %Y-%m-%d}"
    if d.view == "week":
        return f"week {d.first:%Y-%m-%d} – {d.last:%Y-%m-%d}"
    return f"month {d.first:%Y-%m}"


def detail_view(s: DashState, width: int) -> RenderableType:
    d = s.detail
    if d is None:
        return Text("loading…", style="dim")
    head = Text.assemble(
        (_title(d), "bold"), f"  {usd(d.cost)} · {d.tokens:,} tokens · {d.sessions} sessions"
    )
    models = Table(title="by model", title_justify="left", header_style="bold", pad_edge=False)
    for label in ("model", "cost", "share"):
        models.add_column(label, justify="left" if label == "model" else "right", no_wrap=True)
    merged: dict[str, tuple[float, float]] = {}
    for m in d.models:  # a provider's copy of a model reads as the model
        cost, share = merged.get(short_model(m.model), (0.0, 0.0))
        merged[short_model(m.model)] = (cost + m.cost, share + m.share)
    for name, (cost, share) in sorted(merged.items(), key=lambda kv: (-kv[1][0], kv[0])):
        models.add_row(name, usd(cost), percent(share * 100))
    kinds = Table(title="tokens", title_justify="left", header_style="bold", pad_edge=False)
    kinds.add_column("kind", no_wrap=True)
    kinds.add_column("tokens", justify="right", no_wrap=True)
    for label, n in d.kinds:
        kinds.add_row(label, f"{n:,}")
    grid = Table.grid(padding=(0, 3))
    grid.add_row(models, kinds)
    side = grid if d.models else Text(f"No usage in this {d.view}.", style="dim")
    unit = "hour" if d.view == "day" else "day"
    peak = f"peak {unit}: {d.peak}" if d.peak else f"no usage in this {d.view}"
    projection = (
        f"{d.month} so far {usd(d.month_cost)} → {usd(d.month_projected)} projected "
        "for the month at this pace"
    )
    return Group(head, side, _bars(d, width), Text(peak), Text(projection, style="cyan"))


def _bars(d: Detail, width: int) -> RenderableType:
    """24 hours (or the days) as vertical bars, 6 rows high, one cell per slot."""
    title = "cost by local hour" if d.view == "day" else "cost by day"
    slot = 3 if len(d.bars) * 3 <= width else 2
    top = max((c for _, c in d.bars), default=0.0)
    rows = []
    for level in range(6, 0, -1):
        line = ""
        for _, cost in d.bars:
            eighths = round(cost / top * 48) if top > 0 else 0
            part = min(8, max(0, eighths - (level - 1) * 8))
            cell = "█" if part == 8 else " ▁▂▃▄▅▆▇"[part]
            line += cell * (slot - 1) + " "
        rows.append(line.rstrip())
    labels = "".join(label[-(slot - 1) :].rjust(slot - 1) + " " for label, _ in d.bars)
    return Group(Text(title, style="bold"), Text("\n".join(rows)), Text(labels, style="dim"))


HELP = """\
main screen
  Enter, u   detail of today
  q, Ctrl-C  quit
  ?          this help

detail view
  ← / →      previous / next day (week, month)
  d w m      day, week, month view
  Esc        back to the main screen

Figures are the read model's, as `usagectl daily --json` gives them; sessions and the
block follow the stream live. A status marked * comes from transcript activity;
`usagectl hooks install` gives working / waiting for input / ended from hooks."""


def help_view() -> RenderableType:
    return Text(HELP)
