"""`usagectl tools`, pure: tool calls in, one row per tool out (calls, failures, failure rate,
duration percentiles, the kinds of error)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    tool: str
    duration_ms: float | None
    outcome: bool | None  # True done, False failed, None not finished
    error_kind: str | None = None


def percentile(ordered: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default) on sorted values."""
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class ToolStats:
    tool: str
    calls: int = 0
    failures: int = 0
    unfinished: int = 0
    durations: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, call: Call) -> None:
        self.calls += 1
        if call.outcome is None:
            self.unfinished += 1
        elif call.outcome is False:
            self.failures += 1
            self.errors[call.error_kind or "unknown"] += 1
        if call.duration_ms is not None:
            self.durations.append(call.duration_ms)

    def json(self, key: str = "tool") -> dict[str, Any]:
        """Failure rate over the calls that finished: one still running is not a success."""
        finished = self.calls - self.unfinished
        ordered = sorted(self.durations)
        p50, p95 = percentile(ordered, 0.5), percentile(ordered, 0.95)
        return {
            key: self.tool,
            "calls": self.calls,
            "failures": self.failures,
            "failureRate": round(self.failures / finished, 4) if finished else 0.0,
            "unfinished": self.unfinished,
            "timedCalls": len(ordered),
            "p50DurationMs": None if p50 is None else round(p50, 1),
            "p95DurationMs": None if p95 is None else round(p95, 1),
            "errorKinds": dict(sorted(self.errors.items(), key=lambda kv: (-kv[1], kv[0]))),
        }


def tool_report(calls: Iterable[Call]) -> dict[str, Any]:
    """``tools --json``: tools by calls (most first), and the totals over all of them."""
    by_tool: dict[str, ToolStats] = {}
    total = ToolStats("")
    for call in calls:
        by_tool.setdefault(call.tool, ToolStats(call.tool)).add(call)
        total.add(call)
    rows = sorted(by_tool.values(), key=lambda t: (-t.calls, t.tool))
    totals = total.json()
    del totals["tool"]
    return {"tools": [t.json() for t in rows], "totals": totals}
