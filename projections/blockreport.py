"""Blocks report shaping: stored blocks plus ``now`` in, ccusage's ``blocks --json`` rows out."""

from __future__ import annotations

from typing import Any

from .blocks import Block, burn_rate, is_active, limit_status, projection
from .reports import iso_ms


def block_json(
    b: Block, now_ms: int, length_ms: int, mode: int = 0, limit: int | None = None
) -> dict[str, Any]:
    active = is_active(b, now_ms, length_ms)
    rate = burn_rate(b, now_ms, length_ms, mode)
    proj = projection(b, now_ms, length_ms, mode)
    start = iso_ms(b.start_ms)
    row: dict[str, Any] = {
        "id": f"gap-{start}" if b.is_gap else start,
        "startTime": start,
        "endTime": iso_ms(b.end_ms),
        "actualEndTime": None if b.is_gap or b.last_ms is None else iso_ms(b.last_ms),
        "isActive": active,
        "isGap": b.is_gap,
        "entries": b.entries,
        "tokenCounts": {
            "inputTokens": b.input,
            "outputTokens": b.output,
            "cacheCreationInputTokens": b.cache_create,
            "cacheReadInputTokens": b.cache_read,
        },
        "totalTokens": b.total_tokens,
        "costUSD": b.cost(mode),
        "models": list(b.models),
        "burnRate": None
        if rate is None
        else {
            "tokensPerMinute": rate.tokens_per_minute,
            "tokensPerMinuteForIndicator": rate.tokens_per_minute_for_indicator,
            "costPerHour": round(rate.cost_per_hour, 4),
        },
        "projection": None
        if proj is None
        else {
            "remainingMinutes": proj.remaining_minutes,
            "totalTokens": proj.total_tokens,
            "totalCost": proj.total_cost,
        },
    }
    if limit is not None and active and proj is not None:
        percent, status = limit_status(proj.total_tokens, limit)
        row["tokenLimitStatus"] = {
            "limit": limit,
            "projectedUsage": proj.total_tokens,
            "percentUsed": percent,
            "status": status,
        }
    return dict(sorted(row.items()))
