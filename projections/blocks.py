"""5-hour billing blocks, exactly as ccusage identifies them, plus burn rate and projection.

A block starts at its first entry's timestamp floored to the UTC hour; a new block begins when
an entry is more than the session length after the block's start or after the previous entry
(strict '>'); a gap block fills a silence longer than the session length. Whether a block is
active, its burn rate and its projection depend on ``now``, which callers pass in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

HOUR_MS = 3_600_000
DEFAULT_SESSION_HOURS = 5.0


@dataclass(frozen=True, slots=True)
class BlockEntry:
    ts_ms: int
    input: int
    output: int
    cache_create: int
    cache_read: int
    costs: tuple[int, int, int]  # nano-dollars: auto, calculate, display
    model: str


@dataclass(slots=True)
class Block:
    start_ms: int
    end_ms: int
    is_gap: bool = False
    first_ms: int | None = None
    last_ms: int | None = None
    entries: int = 0
    input: int = 0
    output: int = 0
    cache_create: int = 0
    cache_read: int = 0
    costs: list[int] = field(default_factory=lambda: [0, 0, 0])
    models: list[str] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        return self.input + self.output + self.cache_create + self.cache_read

    def cost(self, mode: int = 0) -> float:
        return self.costs[mode] / 1e9

    def add(self, e: BlockEntry) -> None:
        if self.first_ms is None:
            self.first_ms = e.ts_ms
        self.last_ms = e.ts_ms
        self.entries += 1
        self.input += e.input
        self.output += e.output
        self.cache_create += e.cache_create
        self.cache_read += e.cache_read
        for i, c in enumerate(e.costs):
            self.costs[i] += c
        if e.model and e.model not in self.models:
            self.models.append(e.model)


def session_ms(hours: float) -> int:
    return int(hours * HOUR_MS)


def floor_hour(ts_ms: int) -> int:
    return ts_ms // HOUR_MS * HOUR_MS


class BlockScanner:
    """The block rule fed one entry at a time (sorted by time), so a caller can stream a long
    history through it without holding the entries."""

    def __init__(self, length_ms: int) -> None:
        self.length_ms = length_ms
        self.blocks: list[Block] = []
        self.current: Block | None = None

    def feed(self, e: BlockEntry) -> None:
        current, length = self.current, self.length_ms
        if current is not None and current.last_ms is not None:
            since_start = e.ts_ms - current.start_ms
            since_last = e.ts_ms - current.last_ms
            if since_start > length or since_last > length:
                self.blocks.append(current)
                if since_last > length:
                    self.blocks.append(Block(current.last_ms + length, e.ts_ms, is_gap=True))
                current = None
        if current is None:
            start = floor_hour(e.ts_ms)
            current = self.current = Block(start, start + length)
        current.add(e)

    def finish(self) -> list[Block]:
        if self.current is not None:
            self.blocks.append(self.current)
            self.current = None
        return self.blocks


def identify_blocks(entries: Iterable[BlockEntry], length_ms: int) -> list[Block]:
    """Blocks (with gap blocks between them) over entries sorted by time."""
    scanner = BlockScanner(length_ms)
    for e in entries:
        scanner.feed(e)
    return scanner.finish()


@dataclass(frozen=True, slots=True)
class BurnRate:
    tokens_per_minute: float
    tokens_per_minute_for_indicator: float
    cost_per_hour: float


@dataclass(frozen=True, slots=True)
class Projection:
    remaining_minutes: int
    total_tokens: int
    total_cost: float


def is_active(block: Block, now_ms: int, length_ms: int) -> bool:
    if block.is_gap or block.last_ms is None:
        return False
    return now_ms - block.last_ms < length_ms and now_ms < block.end_ms


def burn_rate(block: Block, now_ms: int, length_ms: int, mode: int = 0) -> BurnRate | None:
    if not is_active(block, now_ms, length_ms) or block.first_ms is None:
        return None
    assert block.last_ms is not None
    minutes = (block.last_ms - block.first_ms) / 60_000
    if minutes <= 0:
        return None
    return BurnRate(
        tokens_per_minute=block.total_tokens / minutes,
        tokens_per_minute_for_indicator=(block.input + block.output) / minutes,
        cost_per_hour=block.cost(mode) / minutes * 60,
    )


def projection(block: Block, now_ms: int, length_ms: int, mode: int = 0) -> Projection | None:
    rate = burn_rate(block, now_ms, length_ms, mode)
    if rate is None:
        return None
    remaining = round((block.end_ms - now_ms) / 60_000)
    return Projection(
        remaining_minutes=remaining,
        total_tokens=round(block.total_tokens + rate.tokens_per_minute * remaining),
        total_cost=round(block.cost(mode) + rate.cost_per_hour / 60 * remaining, 2),
    )


# ccusage's burn levels, on input + output tokens per minute (tokensPerMinuteForIndicator).
MODERATE_TPM, HIGH_TPM = 2_000, 5_000
# A rate over a minute or two of activity says nothing (one response that reads a large cache
# is millions of tokens "a minute"): people are shown a rate, a level and a projection only
# once the block's activity spans this long. `blocks --json` keeps ccusage's burnRate as is.
MIN_RATE_SPAN_MS = 10 * 60_000


def burn_level(tokens_per_minute_for_indicator: float) -> str:
    """NORMAL below 2,000, MODERATE below 5,000, else HIGH (ccusage's statusline rule)."""
    if tokens_per_minute_for_indicator < MODERATE_TPM:
        return "NORMAL"
    return "MODERATE" if tokens_per_minute_for_indicator < HIGH_TPM else "HIGH"


def shown_rate(block: Block, now_ms: int, length_ms: int, mode: int = 0) -> BurnRate | None:
    """The burn rate a person is shown (watch, statusline, dash): none before the block's
    activity spans MIN_RATE_SPAN_MS."""
    if block.first_ms is None or block.last_ms is None:
        return None
    if block.last_ms - block.first_ms < MIN_RATE_SPAN_MS:
        return None
    return burn_rate(block, now_ms, length_ms, mode)


def shown_projection(block: Block, now_ms: int, length_ms: int, mode: int = 0) -> Projection | None:
    if shown_rate(block, now_ms, length_ms, mode) is None:
        return None
    return projection(block, now_ms, length_ms, mode)


def max_completed_tokens(blocks: Iterable[Block], now_ms: int, length_ms: int) -> int:
    """The high-water mark ccusage uses for ``--token-limit max``."""
    return max(
        (b.total_tokens for b in blocks if not b.is_gap and not is_active(b, now_ms, length_ms)),
        default=0,
    )


def limit_status(projected: int, limit: int) -> tuple[float, str]:
    percent = round(projected / limit * 100, 2) if limit else 0.0
    if projected > limit:
        return percent, "exceeds"
    return percent, "warning" if percent > 80 else "ok"
