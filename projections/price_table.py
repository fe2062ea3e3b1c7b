"""The bundled Claude price table (USD per million tokens): one row per price, with the date it
took effect and where it was read.

Where the numbers come from:
- PAGE: Anthropic's pricing page (platform.claude.com/docs/en/about-claude/pricing), versions
  from 2025-12-20 to 2026-08-21: base, cache and long-context prices, fast-mode prices.
- FALL_2026: the same page and the model pages, fall 2026 (models of September and October 2026,
  the Sonnet 5.5 cache-read cut of 2026-10-07, Haiku 5.5's prompt-length band, ``inference_geo``).
- LITELLM: ``model_prices_and_context_window.json`` for models the page no longer lists
  (Claude 3.5 Sonnet, Claude 3 Sonnet) and for the fast multipliers of Opus 4.6/4.7/4.8.
- Prices a page does not state are derived from its documented multipliers: 5-minute cache
  write = 1.25x input, 1-hour cache write = 2x input, cache read = 0.1x input (ccusage derives
  them the same way). Cache read is NOT always 0.1x input since fall 2026: each row says its own.
- LiteLLM's 1-hour write prices for Claude 3 Haiku and Claude 3 Opus are known to be wrong and
  are NOT used here.

A price change is a projection change: editing this file (or ``usagectl prices update``) and
replaying rebuilds every cost. Data only (no I/O), so it stays importable from the pure
projections package.
"""

from __future__ import annotations

from typing import Final, NamedTuple

# (input, output, cache_write_5m, cache_write_1h, cache_read), USD per million tokens.
Rates = tuple[float, float, float, float, float]
# (prompt tokens, rates): a request whose prompt (input + cache writes + cache reads) exceeds
# the threshold is billed WHOLE, output included, at these rates.
Band = tuple[int, Rates]

PAGE: Final = "Anthropic pricing page 2025-12-20..2026-08-21"
FALL_2026: Final = "Anthropic pricing and model pages, fall 2026"
LITELLM: Final = "LiteLLM model_prices_and_context_window.json"


class Row(NamedTuple):
    """One price of one or more model ids, in force from ``since`` (a UTC date) until the next
    row of the same id; ``since`` None: for as long as the id has existed."""

    keys: tuple[str, ...]
    rates: Rates
    since: str | None = None
    source: str = PAGE
    band: Band | None = None
    fast: float | None = None  # whole-request multiplier when usage.speed == "fast"
    regional: bool = True  # Bedrock geographic endpoints cost REGIONAL_PREMIUM more


_OPUS_LEGACY: Final[Rates] = (15.00, 75.00, 18.75, 30.00, 1.50)  # Opus 3, 4, 4.1
_OPUS_CURRENT: Final[Rates] = (5.00, 25.00, 6.25, 10.00, 0.50)  # Opus 4.5 and later
_SONNET: Final[Rates] = (3.00, 15.00, 3.75, 6.00, 0.30)  # Sonnet 3 to 4.6
_SONNET_5: Final[Rates] = (2.00, 10.00, 2.50, 4.00, 0.20)
_HAIKU_4_5: Final[Rates] = (1.00, 5.00, 1.25, 2.00, 0.10)
_HAIKU_3_5: Final[Rates] = (0.80, 4.00, 1.00, 1.60, 0.08)
_HAIKU_3: Final[Rates] = (0.25, 1.25, 0.30, 0.50, 0.03)
_FABLE_MYTHOS: Final[Rates] = (10.00, 50.00, 12.50, 20.00, 1.00)
_FABLE_MYTHOS_5_1: Final[Rates] = (10.00, 50.00, 12.50, 20.00, 0.25)
_OPUS_5_5: Final[Rates] = (4.00, 20.00, 5.00, 8.00, 0.20)
_SONNET_5_5: Final[Rates] = (2.00, 10.00, 2.50, 4.00, 0.20)
_SONNET_5_5_OCT: Final[Rates] = (2.00, 10.00, 2.50, 4.00, 0.10)
_HAIKU_5_5: Final[Rates] = (0.10, 0.50, 0.125, 0.20, 0.01)
_HAIKU_5_5_LONG: Final[Rates] = (0.50, 2.50, 0.625, 1.00, 0.05)

# Sonnet 4 / 4.5 with the 1M-context beta: once a request's prompt exceeds 200k tokens, every
# token of it is billed at these rates. Opus 4.6 and Sonnet 4.6 had such a premium briefly in
# early 2026; since 2026-03-28 the page bills their full 1M window at standard rates.
_SONNET_LONG_CONTEXT: Final[Band] = (200_000, (6.00, 22.50, 7.50, 12.00, 0.60))

# Keys are plain Anthropic ids, dated and undated. Family matching in pricing.py finds the longest
# key that prefixes a normalised id, so an undated key also covers ids with unknown dates. `-4-0`
# are official aliases that the version-suffix rule would not reach. Older models have no global
# Bedrock endpoint, so no regional premium.
ROWS: Final[tuple[Row, ...]] = (
    Row(("claude-3-haiku", "claude-3-haiku-20240307"), _HAIKU_3, regional=False),
    Row(("claude-3-opus", "claude-3-opus-20240229"), _OPUS_LEGACY, regional=False),
    # Sonnet 3 cache prices derived: it retired before prompt caching mattered.
    Row(("claude-3-sonnet", "claude-3-sonnet-20240229"), _SONNET, source=LITELLM, regional=False),
    Row(
        ("claude-3-5-sonnet", "claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20241022"),
        _SONNET,
        source=LITELLM,
        regional=False,
    ),
    Row(("claude-3-5-haiku", "claude-3-5-haiku-20241022"), _HAIKU_3_5, regional=False),
    Row(("claude-3-7-sonnet", "claude-3-7-sonnet-20250219"), _SONNET, regional=False),
    Row(
        (
            "claude-opus-4",
            "claude-opus-4-0",
            "claude-opus-4-20250514",
            "claude-opus-4-1",
            "claude-opus-4-1-20250805",
        ),
        _OPUS_LEGACY,
        regional=False,
    ),
    Row(
        ("claude-sonnet-4", "claude-sonnet-4-0", "claude-sonnet-4-20250514"),
        _SONNET,
        band=_SONNET_LONG_CONTEXT,
        regional=False,
    ),
    Row(("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"), _SONNET, band=_SONNET_LONG_CONTEXT),
    Row(("claude-haiku-4-5", "claude-haiku-4-5-20251001"), _HAIKU_4_5),
    Row(("claude-opus-4-5", "claude-opus-4-5-20251101"), _OPUS_CURRENT),
    # Fast mode: Opus 4.6 was $30/$150 (6x); Opus 4.8 and Opus 5 are $10/$50 (2x). Opus 4.7 keeps
    # 6x as LiteLLM and ccusage do, although the page says it has no fast mode.
    Row(("claude-opus-4-6", "claude-opus-4-6-20260205"), _OPUS_CURRENT, fast=6.0),
    Row(("claude-opus-4-7",), _OPUS_CURRENT, fast=6.0, source=f"{PAGE}; fast: {LITELLM}"),
    Row(("claude-opus-4-8",), _OPUS_CURRENT, fast=2.0),
    Row(("claude-opus-5",), _OPUS_CURRENT, fast=2.0),
    Row(("claude-sonnet-4-6",), _SONNET),
    Row(("claude-sonnet-5",), _SONNET_5, source=f"{PAGE}; the announced rise was cancelled"),
    Row(("claude-fable-5", "claude-mythos-5"), _FABLE_MYTHOS),
    Row(("claude-fable-5-1", "claude-mythos-5-1"), _FABLE_MYTHOS_5_1, "2026-09-01", FALL_2026),
    # Opus 5.5 fast mode is $8 / $40: 2x.
    Row(("claude-opus-5-5",), _OPUS_5_5, "2026-09-22", FALL_2026, fast=2.0),
    Row(("claude-sonnet-5-5",), _SONNET_5_5, "2026-09-28", FALL_2026),
    Row(("claude-sonnet-5-5",), _SONNET_5_5_OCT, "2026-10-07", FALL_2026),
    Row(
        ("claude-haiku-5-5",), _HAIKU_5_5, "2026-10-07", FALL_2026, band=(100_000, _HAIKU_5_5_LONG)
    ),
)

# Server-side web search, per request ($10 per 1,000).
WEB_SEARCH_USD_PER_REQUEST: Final[float] = 0.01

# Bedrock regional (geographic) endpoints cost 10% more than global ones for Claude Sonnet 4.5,
# Haiku 4.5 and newer (Anthropic pricing page, "regional endpoints"; LiteLLM's `us.anthropic.`
# rows carry the same premium).
REGIONAL_PREMIUM: Final[float] = 1.1
REGIONAL_PREFIXES: Final[tuple[str, ...]] = ("us.", "eu.", "apac.", "jp.", "au.", "ca.")

# usage.inference_geo (Claude Code >= 2.1.239): US-only inference is billed 1.1x on every
# category; "not_available", "" and other regions at the standard rates.
GEO_MULTIPLIERS: Final[dict[str, float]] = {"us": 1.1}
