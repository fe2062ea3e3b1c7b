"""Bundled Claude price table (USD per million tokens).

Where the numbers come from:
- Anthropic's pricing page (platform.claude.com/docs/en/about-claude/pricing), versions from
  2025-12-20 to 2026-08-21: base, cache and long-context prices, fast-mode prices.
- LiteLLM ``model_prices_and_context_window.json`` for models the page no longer lists
  (Claude 3.5 Sonnet, Claude 3 Sonnet) and for the fast multipliers of Opus 4.6/4.7/4.8.
- Prices the page does not state are derived from its documented multipliers: 5-minute cache
  write = 1.25x input, 1-hour cache write = 2x input, cache read = 0.1x input. ccusage derives
  them the same way, so the two tools agree on these models.
- LiteLLM's 1-hour write prices for Claude 3 Haiku and Claude 3 Opus are known to be wrong and
  are NOT used here.

A price change is a projection change: editing this file and replaying rebuilds every cost.
This module is data only (no I/O), so it stays importable from the pure projections package.
"""

from __future__ import annotations

from typing import Final

# (input, output, cache_write_5m, cache_write_1h, cache_read), USD per million tokens.
Rates = tuple[float, float, float, float, float]

_OPUS_LEGACY: Final[Rates] = (15.00, 75.00, 18.75, 30.00, 1.50)  # Opus 3, 4, 4.1
_OPUS_CURRENT: Final[Rates] = (5.00, 25.00, 6.25, 10.00, 0.50)  # Opus 4.5 and later
_SONNET: Final[Rates] = (3.00, 15.00, 3.75, 6.00, 0.30)  # Sonnet 3 to 4.6
_SONNET_5: Final[Rates] = (2.00, 10.00, 2.50, 4.00, 0.20)
_HAIKU_4_5: Final[Rates] = (1.00, 5.00, 1.25, 2.00, 0.10)
_HAIKU_3_5: Final[Rates] = (0.80, 4.00, 1.00, 1.60, 0.08)
_HAIKU_3: Final[Rates] = (0.25, 1.25, 0.30, 0.50, 0.03)
_FABLE_MYTHOS: Final[Rates] = (10.00, 50.00, 12.50, 20.00, 1.00)

# Sonnet 4 / 4.5 with the 1M-context beta: once a request's input (input + cache writes + cache
# reads) exceeds 200k tokens, every token of it is billed at these rates.
_SONNET_LONG_CONTEXT: Final[Rates] = (6.00, 22.50, 7.50, 12.00, 0.60)

# Keys are plain Anthropic ids, dated and undated. Family matching in pricing.py finds the longest
# key that prefixes a normalised id, so an undated key also covers ids with unknown dates.
PRICES: Final[dict[str, Rates]] = {
    # Claude 3 (Sonnet 3 cache prices derived: it retired before prompt caching mattered)
    "claude-3-haiku": _HAIKU_3,
    "claude-3-haiku-20240307": _HAIKU_3,
    "claude-3-opus": _OPUS_LEGACY,
    "claude-3-opus-20240229": _OPUS_LEGACY,
    "claude-3-sonnet": _SONNET,
    "claude-3-sonnet-20240229": _SONNET,
    # Claude 3.5 / 3.7
    "claude-3-5-sonnet": _SONNET,
    "claude-3-5-sonnet-20240620": _SONNET,
    "claude-3-5-sonnet-20241022": _SONNET,
    "claude-3-5-haiku": _HAIKU_3_5,
    "claude-3-5-haiku-20241022": _HAIKU_3_5,
    "claude-3-7-sonnet": _SONNET,
    "claude-3-7-sonnet-20250219": _SONNET,
    # Claude 4 family; `-4-0` are official aliases that the version-suffix rule would not reach
    "claude-opus-4": _OPUS_LEGACY,
    "claude-opus-4-0": _OPUS_LEGACY,
    "claude-opus-4-20250514": _OPUS_LEGACY,
    "claude-opus-4-1": _OPUS_LEGACY,
    "claude-opus-4-1-20250805": _OPUS_LEGACY,
    "claude-sonnet-4": _SONNET,
    "claude-sonnet-4-0": _SONNET,
    "claude-sonnet-4-20250514": _SONNET,
    "claude-sonnet-4-5": _SONNET,
    "claude-sonnet-4-5-20250929": _SONNET,
    "claude-haiku-4-5": _HAIKU_4_5,
    "claude-haiku-4-5-20251001": _HAIKU_4_5,
    "claude-opus-4-5": _OPUS_CURRENT,
    "claude-opus-4-5-20251101": _OPUS_CURRENT,
    # 2026 models
    "claude-opus-4-6": _OPUS_CURRENT,
    "claude-opus-4-6-20260205": _OPUS_CURRENT,
    "claude-opus-4-7": _OPUS_CURRENT,
    "claude-opus-4-8": _OPUS_CURRENT,
    "claude-opus-5": _OPUS_CURRENT,
    "claude-sonnet-4-6": _SONNET,
    "claude-sonnet-5": _SONNET_5,
    "claude-fable-5": _FABLE_MYTHOS,
    "claude-mythos-5": _FABLE_MYTHOS,
}

# Only Sonnet 4 / 4.5 keep a long-context premium. Opus 4.6 and Sonnet 4.6 had one briefly in
# early 2026; since 2026-03-28 the pricing page bills their full 1M window at standard rates.
LONG_CONTEXT_PRICES: Final[dict[str, Rates]] = {
    "claude-sonnet-4": _SONNET_LONG_CONTEXT,
    "claude-sonnet-4-0": _SONNET_LONG_CONTEXT,
    "claude-sonnet-4-20250514": _SONNET_LONG_CONTEXT,
    "claude-sonnet-4-5": _SONNET_LONG_CONTEXT,
    "claude-sonnet-4-5-20250929": _SONNET_LONG_CONTEXT,
}

# Whole-request multiplier when usage.speed == "fast". Opus 4.6 was $30/$150 (6x); Opus 4.8 and
# Opus 5 are $10/$50 (2x). Opus 4.7 keeps 6x as LiteLLM and ccusage do, although the pricing
# page says it has no fast mode, so such lines should not occur.
FAST_MULTIPLIERS: Final[dict[str, float]] = {
    "claude-opus-4-6": 6.0,
    "claude-opus-4-6-20260205": 6.0,
    "claude-opus-4-7": 6.0,
    "claude-opus-4-8": 2.0,
    "claude-opus-5": 2.0,
}

# Server-side web search, per request ($10 per 1,000).
WEB_SEARCH_USD_PER_REQUEST: Final[float] = 0.01

# Bedrock regional (geographic) endpoints cost 10% more than global ones for Claude Sonnet 4.5,
# Haiku 4.5 and newer (Anthropic pricing page, "regional endpoints"; LiteLLM's `us.anthropic.`
# rows carry the same premium). Older models have no global endpoint, so no premium.
REGIONAL_PREMIUM: Final[float] = 1.1
REGIONAL_PREFIXES: Final[tuple[str, ...]] = ("us.", "eu.", "apac.", "jp.", "au.", "ca.")
NO_REGIONAL_PREMIUM: Final[frozenset[str]] = frozenset(
    k for k in PRICES if k.startswith(("claude-3", "claude-opus-4-0", "claude-sonnet-4-0"))
) | {"claude-opus-4", "claude-opus-4-20250514", "claude-opus-4-1", "claude-opus-4-1-20250805",
     "claude-sonnet-4", "claude-sonnet-4-20250514"}  # fmt: skip
