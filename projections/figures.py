"""How a figure is written on every surface (statusline, watch, dash, dashboard, reports): one
rounding and one format, so the same number never reads two ways."""

from __future__ import annotations


def usd(value: float) -> str:
    """Dollars and cents: $1,234.56."""
    return f"${value:,.2f}"


def percent(value: float) -> str:
    """One decimal, as Claude Code's own figures: 42.5% (never 42% here and 43% there)."""
    return f"{value:.1f}%"
