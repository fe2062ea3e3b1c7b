"""Rendering for people: rich tables from the same rows the JSON output carries."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from usagectl.projections.figures import percent, usd

from .fit import Col, Grid, Level, levels, tokens

_WRAPPERS = re.compile(r"^(?:.*/)?(?:[a-z]+\.)?(?:anthropic\.)?(?:claude-)?")
_SNAPSHOT = re.compile(r"(?:-\d{8})?(?:-v\d+:\d+)?(?=(-fast)?$)")


def short_model(name: str) -> str:
    """`claude-sonnet-4-5-20250929` reads as `sonnet-4-5` in a narrow column."""
    return _SNAPSHOT.sub("", _WRAPPERS.sub("", name, count=1), count=1) or name


def _n(value: int) -> str:
    return f"{value:,}"


_usd = usd


_TOKEN_COLS = (
    Col("input", "Input", justify="right"),
    Col("output", "Output", justify="right"),
    Col("cache_create", "Cache Create", "Cache W", "right"),
    Col("cache_read", "Cache Read", "Cache R", "right"),
    Col("total", "Total Tokens", "Total", "right"),
)
# The order columns go when the terminal is narrow (the key and the cost never go).
PERIOD_DROPS = ("models", "cache_create", "input", "output", "cache_read", "total")
SESSION_DROPS = (
    "models",
    "cache_create",
    "input",
    "output",
    "cache_read",
    "total",
    "project",
    "last",
)


def usage_grid(
    title: str,
    key_name: str,
    rows: list[dict[str, Any]],
    totals: dict[str, Any],
    breakdown: bool,
    level: Level,
    extra: Sequence[tuple[str, str]] = (),
    tz: ZoneInfo | None = None,
) -> Grid:
    """A report's table at one level of compactness. ``extra`` columns (header, row key)
    follow the cost, e.g. a session's hook counts; they are the first to go."""
    session = key_name == "sessionId"
    cols = [Col("key", "Session" if session else key_name.capitalize())]
    if session:
        cols += [Col("project", "Project", max_width=24), Col("last", "Last activity", "Last")]
    cols += [Col("models", "Models"), *_TOKEN_COLS, Col("cost", "Cost (USD)", "Cost", "right")]
    cols += [
        Col(key, label, justify="left" if key == "endReason" else "right") for label, key in extra
    ]
    grid = Grid.of(title, cols, level)
    ids = [c.key for c in grid.cols]

    def put(cells: dict[str, str], style: str | None = None) -> None:
        grid.add([cells.get(k, "") for k in ids], style)

    for row in rows:
        cells = {"key": str(row[key_name]), **_token_cells(row, level)}
        cells["models"] = "\n".join(sorted({short_model(m) for m in row["modelsUsed"]}))
        if session:
            cells["project"] = project_name(row.get("projectPath") or "")
            cells["last"] = _local(row["lastActivity"], tz or ZoneInfo("UTC"))[5:]
        cells.update({k: _extra(row.get(k)) for _, k in extra})
        put(cells)
        for b in row["modelBreakdowns"] if breakdown else ():
            label = f"└ {short_model(b['modelName'])}"
            part = {k: b[k] for k in _TOKEN_KEYS}
            part |= {"totalTokens": sum(b[k] for k in _TOKEN_KEYS), "totalCost": b["cost"]}
            cells = _token_cells(part, level)
            if b.get("missingPricing"):
                cells["cost"] = "unpriced"
            cells["models" if "models" in ids else "key"] = label
            put(cells, "dim")
    grid.section_at = len(grid.rows)
    put(
        {
            "key": "Total",
            **_token_cells(totals, level),
            **{k: _extra(_sum(rows, k)) for _, k in extra if k != "endReason"},
        },
        "bold",
    )
    return grid


def project_name(path: str) -> str:
    """The project's folder, the part a person recognises."""
    return path.rstrip("/").rsplit("/", 1)[-1] or path


def _token_cells(row: dict[str, Any], level: Level) -> dict[str, str]:
    keys = ("input", "output", "cache_create", "cache_read", "total")
    values = (*(row[k] for k in _TOKEN_KEYS), row["totalTokens"])
    return {
        **{k: tokens(v, level) for k, v in zip(keys, values, strict=True)},
        "cost": _usd(row["totalCost"]),
    }


def usage_levels(key_name: str, extra: Sequence[tuple[str, str]] = ()) -> list[Level]:
    drops = SESSION_DROPS if key_name == "sessionId" else PERIOD_DROPS
    return levels((*reversed([k for _, k in extra]), *drops), numbers_after=len(extra) + 1)


def _extra(value: Any) -> str:
    if value is None:
        return "—"  # unknown (no hooks seen), which is not zero
    return _n(value) if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _sum(rows: list[dict[str, Any]], key: str) -> int | None:
    values = [r.get(key) for r in rows]
    numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    return sum(numbers) if numbers and len(numbers) == len(values) else None


_TOKEN_KEYS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")


def _local(iso: str, tz: ZoneInfo) -> str:
    return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _span(start: str, end: str) -> str:
    minutes = int(
        (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() // 60
    )
    return f"{minutes // 60}h {minutes % 60:02d}m"


BLOCK_DROPS = ("models", "percent", "status")


def blocks_grid(
    rows: list[dict[str, Any]],
    limit: int | None,
    tz: ZoneInfo,
    official: dict[str, Any] | None,
    level: Level,
    early: set[str] | frozenset[str] = frozenset(),
) -> Grid:
    """``early``: the start times of blocks whose activity is too short for a projection
    people should read (the rule watch, dash and the statusline use)."""
    cols = [
        Col("key", "Block start"),
        Col("status", "Duration/Status", "Status"),
        Col("models", "Models"),
        Col("tokens", "Tokens", justify="right"),
        Col("percent", "%", justify="right"),
        Col("cost", "Cost", justify="right"),
    ]
    grid = Grid.of("5-hour blocks", cols, level)
    ids = [c.key for c in grid.cols]

    def put(cells: dict[str, str], style: str | None = None) -> None:
        if "status" not in ids and cells.get("status") and not cells.get("key"):
            cells["key"] = cells["status"]  # a projection or official row keeps its label
        grid.add([cells.get(k, "") for k in ids], style)

    for b in rows:
        start = _local(b["startTime"], tz)
        if b["isGap"]:
            put({"key": start, "status": f"({_span(b['startTime'], b['endTime'])} gap)"}, "dim")
            continue
        used = _span(b["startTime"], b["actualEndTime"])
        put(
            {
                "key": start,
                "status": f"ACTIVE ({used})" if b["isActive"] else used,
                "models": "\n".join(short_model(m) for m in b["models"]),
                "tokens": tokens(b["totalTokens"], level),
                "percent": f"{b['totalTokens'] / limit * 100:.1f}%" if limit else "",
                "cost": _usd(b["costUSD"]),
            },
            "bold green" if b["isActive"] else None,
        )
        if b["isActive"] and b["projection"] and b["startTime"] not in early:
            p = b["projection"]
            put(
                {
                    "status": f"projected ({p['remainingMinutes']} min left)",
                    "tokens": tokens(p["totalTokens"], level),
                    "cost": _usd(p["totalCost"]),
                },
                "yellow",
            )
        if b["isActive"] and official:
            for cells in _official_rows(official, tz):
                put(cells, "cyan")
    return grid


def _official_rows(official: dict[str, Any], tz: ZoneInfo) -> list[dict[str, str]]:
    """Claude Code's own figures under our estimate: the only ground truth for the limits."""
    out = []
    for key, label in (("fiveHour", "5h"), ("sevenDay", "7d")):
        w = official.get(key)
        if w is None:
            continue
        when = "reset since" if w["expired"] else _reset_time(w["resetsAt"], tz)
        split = ""
        if key == "fiveHour":
            split = "\n".join(
                f"{m['machine']} {percent(m['fiveHourPercentage'])}" for m in official["byMachine"]
            )
        out.append(
            {
                "status": f"official {label}, {when}" if when else f"official {label}",
                "models": split,
                "percent": percent(w["usedPercentage"]),
            }
        )
    return out


def _reset_time(iso: str | None, tz: ZoneInfo) -> str:
    """Short enough for the status column: the time today, else the weekday (< 7 days)."""
    if iso is None:
        return ""
    at = datetime.fromisoformat(iso).astimezone(tz)
    today = datetime.now(tz).date()
    return f"resets {at:%H:%M}" if at.date() == today else f"resets {at:%a %H:%M}"
