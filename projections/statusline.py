"""The status line, pure: Claude Code's statusLine JSON and read-model figures in, one line out.

The layout follows ``ccusage statusline`` (ccusage-behaviour.md §7) so its users read it at a
glance; the official 5-hour / 7-day percentages are appended when Claude Code sends them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import msgspec

from .blocks import Block, is_active, shown_rate
from .blocks import burn_level as burn_level  # the one rule, shared with watch and dash
from .figures import percent, usd

LEVEL_MARK = {"NORMAL": "🟢", "MODERATE": "⚠️", "HIGH": "🚨"}


class StatusInput(msgspec.Struct, frozen=True):
    """What the line needs from Claude Code's statusLine JSON; every field may be missing."""

    model: str | None = None
    session_id: str = ""
    cc_cost: float | None = None
    five_hour_pct: float | None = None
    seven_day_pct: float | None = None
    rate_limits: Any = None


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _number(value: Any) -> float | None:
    """A JSON number; not a bool, NaN or infinity (Python's json reads the latter two)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_input(data: Any) -> StatusInput:
    rate_limits = _get(data, "rate_limits")
    return StatusInput(
        model=_text(_get(data, "model", "display_name")) or _text(_get(data, "model", "id")),
        session_id=_text(_get(data, "session_id")) or "",
        cc_cost=_number(_get(data, "cost", "total_cost_usd")),
        five_hour_pct=_number(_get(rate_limits, "five_hour", "used_percentage")),
        seven_day_pct=_number(_get(rate_limits, "seven_day", "used_percentage")),
        rate_limits=rate_limits if isinstance(rate_limits, dict) else None,
    )


class BlockFigures(msgspec.Struct, frozen=True):
    cost: float
    left_ms: int
    cost_per_hour: float | None
    level: str | None


def active_block(blocks: Iterable[Block], now_ms: int, length_ms: int) -> BlockFigures | None:
    """The account-wide block running now, with its burn rate (none until the block's
    activity spans MIN_RATE_SPAN_MS: the rule watch and dash use too)."""
    current = None
    for b in blocks:
        if is_active(b, now_ms, length_ms):
            current = b
    if current is None:
        return None
    rate = shown_rate(current, now_ms, length_ms)
    return BlockFigures(
        cost=current.cost(),
        left_ms=max(current.end_ms - now_ms, 0),
        cost_per_hour=None if rate is None else rate.cost_per_hour,
        level=None if rate is None else burn_level(rate.tokens_per_minute_for_indicator),
    )


class Figures(msgspec.Struct, frozen=True):
    """What the read model says; ``session_cost`` is None for a session it has not seen."""

    session_cost: float | None
    today_cost: float
    block: BlockFigures | None


_usd = usd


def time_left(ms: int) -> str:
    minutes = ms // 60_000
    return f"{minutes // 60}h {minutes % 60}m" if minutes >= 60 else f"{minutes}m"


_pct = percent


def render(inp: StatusInput, figures: Figures | None) -> str:
    """One line; without a read model, the model and Claude Code's own session cost."""
    parts = [f"🤖 {' '.join((inp.model or '').split()) or '?'}"]  # one line, whatever the name
    session = figures.session_cost if figures is not None else None
    if session is None:
        session = inp.cc_cost
    costs = [f"{_usd(session)} session" if session is not None else "– session"]
    if figures is not None:
        costs.append(f"{_usd(figures.today_cost)} today")
        block = figures.block
        if block is None:
            costs.append("no active block")
        else:
            costs.append(f"{_usd(block.cost)} block ({time_left(block.left_ms)} left)")
    parts.append("💰 " + " / ".join(costs))
    block = figures.block if figures is not None else None
    if block is not None and block.level is not None and block.cost_per_hour is not None:
        parts.append(f"🔥 {_usd(block.cost_per_hour)}/hr {LEVEL_MARK[block.level]} {block.level}")
    official = []
    if inp.five_hour_pct is not None:
        official.append(f"5h {_pct(inp.five_hour_pct)}")
    if inp.seven_day_pct is not None:
        official.append(f"7d {_pct(inp.seven_day_pct)}")
    if official:
        parts.append("📊 " + " · ".join(official))
    return " | ".join(parts)


FALLBACK = "🤖 ? | usagectl: no status input"
