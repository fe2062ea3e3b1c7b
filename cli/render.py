"""Rendering for people: rich tables from the same rows the JSON output carries."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.table import Table

_WRAPPERS = re.compile(r"^(?:.*/)?(?:[a-z]+\.)?(?:anthropic\.)?(?:claude-)?")
_SNAPSHOT = re.compile(r"(?:-\d{8})?(?:-v\d+:\d+)?(?=(-fast)?$)")


def short_model(name: str) -> str:
    """`claude-sonnet-4-5-20250929` reads as `sonnet-4-5` in a narrow column."""
    return _SNAPSHOT.sub("", _WRAPPERS.sub("", name, count=1), count=1) or name


def _n(value: int) -> str:
    return f"{value:,}"


def _usd(value: float) -> str:
    return f"${value:,.2f}"


WIDE = ("Input", "Output", "Cache Create", "Cache Read", "Total Tokens", "Cost (USD)")
NARROW = ("Input", "Output", "Cache W", "Cache R", "Total", "Cost")


def usage_table(title: str, key_name: str, rows: list[dict[str, Any]], totals: dict[str, Any],
                breakdown: bool, width: int = 120, extra: Sequence[tuple[str, str]] = ()
                ) -> Table:  # fmt: skip
    """Under 120 columns headers shorten; under 100 the models column goes too, as ccusage's
    compact view.
    ``extra`` columns (header, row key) follow the cost, e.g. a session's hook counts; they
    take the room of long headers first, then of the models column, and need 140 columns."""
    if width < 140:
        extra = ()
    narrow = width < 120 or (bool(extra) and width < 180)
    compact = width < 100 or (bool(extra) and width < 160)
    table = Table(title=title, show_footer=False, header_style="bold")
    table.add_column(key_name.capitalize() if key_name != "sessionId" else "Session", no_wrap=True)
    if not compact:
        table.add_column("Models", min_width=13)
    for label in NARROW if narrow else WIDE:
        table.add_column(label, justify="right", no_wrap=True)
    for label, key in extra:
        table.add_column(label, justify="left" if key == "endReason" else "right", no_wrap=True)
    for row in rows:
        models = "\n".join(sorted({short_model(m) for m in row["modelsUsed"]}))
        table.add_row(str(row[key_name]), *([] if compact else [models]), *_cells(row),
                      *(_extra(row.get(key)) for _, key in extra))  # fmt: skip
        if breakdown:
            for b in row["modelBreakdowns"]:
                total = sum(b[k] for k in _TOKEN_KEYS)
                cost = "unpriced" if b.get("missingPricing") else _usd(b["cost"])
                label = f"└ {short_model(b['modelName'])}"
                table.add_row(
                    *([label] if compact else ["", label]), *(_n(b[k]) for k in _TOKEN_KEYS),
                    _n(total), cost, *([""] * len(extra)), style="dim",
                )  # fmt: skip
    table.add_section()
    table.add_row("Total", *([] if compact else [""]), *_cells(totals),
                  *(_extra(_sum(rows, key)) for _, key in extra), style="bold")  # fmt: skip
    return table


def _extra(value: Any) -> str:
    if value is None:
        return ""
    return _n(value) if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _sum(rows: list[dict[str, Any]], key: str) -> int | None:
    values = [r.get(key) for r in rows]
    numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    return sum(numbers) if numbers and len(numbers) == len(values) else None


_TOKEN_KEYS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")


def _cells(row: dict[str, Any]) -> list[str]:
    return [*(_n(row[k]) for k in _TOKEN_KEYS), _n(row["totalTokens"]), _usd(row["totalCost"])]


def _local(iso: str, tz: ZoneInfo) -> str:
    return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _span(start: str, end: str) -> str:
    minutes = int(
        (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() // 60
    )
    return f"{minutes // 60}h {minutes % 60:02d}m"


def blocks_table(rows: list[dict[str, Any]], limit: int | None, tz: ZoneInfo,
                 official: dict[str, Any] | None = None) -> Table:  # fmt: skip
    table = Table(title="5-hour blocks", header_style="bold")
    for label in ("Block start", "Duration/Status", "Models", "Tokens", "%", "Cost"):
        right = label in ("Tokens", "%", "Cost")
        table.add_column(label, justify="right" if right else "left", no_wrap=label != "Models")
    for b in rows:
        if b["isGap"]:
            gap = f"({_span(b['startTime'], b['endTime'])} gap)"
            table.add_row(_local(b["startTime"], tz), gap, "", "", "", "", style="dim")
            continue
        used = _span(b["startTime"], b["actualEndTime"])
        status = f"ACTIVE ({used})" if b["isActive"] else used
        percent = f"{b['totalTokens'] / limit * 100:.1f}%" if limit else ""
        table.add_row(
            _local(b["startTime"], tz), status, "\n".join(short_model(m) for m in b["models"]),
            _n(b["totalTokens"]), percent,
            _usd(b["costUSD"]), style="bold green" if b["isActive"] else None,
        )  # fmt: skip
        if b["isActive"] and b["projection"]:
            p = b["projection"]
            table.add_row(
                "", f"projected ({p['remainingMinutes']} min left)", "",
                _n(p["totalTokens"]), "", _usd(p["totalCost"]), style="yellow",
            )  # fmt: skip
        if b["isActive"] and official:
            _official_rows(table, official, tz)
    return table


def _official_rows(table: Table, official: dict[str, Any], tz: ZoneInfo) -> None:
    """Claude Code's own figures under our estimate: the only ground truth for the limits."""
    for key, label in (("fiveHour", "5h"), ("sevenDay", "7d")):
        w = official.get(key)
        if w is None:
            continue
        when = "reset since" if w["expired"] else _reset_time(w["resetsAt"], tz)
        split = ""
        if key == "fiveHour":
            split = "\n".join(
                f"{m['machine']} {m['fiveHourPercentage']:.1f}%" for m in official["byMachine"]
            )
        table.add_row(
            "", f"official {label}, {when}" if when else f"official {label}", split, "",
            f"{w['usedPercentage']:.1f}%", "", style="cyan",
        )  # fmt: skip


def _reset_time(iso: str | None, tz: ZoneInfo) -> str:
    """Short enough for the status column: the time today, else the weekday (< 7 days)."""
    if iso is None:
        return ""
    at = datetime.fromisoformat(iso).astimezone(tz)
    today = datetime.now(tz).date()
    return f"resets {at:%H:%M}" if at.date() == today else f"resets {at:%a %H:%M}"
