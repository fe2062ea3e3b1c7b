"""Model-id resolution and per-entry cost, from the bundled table in ``price_table``.

Pure functions: no files, no clock, no network. Results match ccusage 20's offline costs for
ordinary traffic; the few deliberate differences are written down where they happen
(``cost_usd``) and in ``normalize_model``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final, Literal

import msgspec
from usagectl.projections.price_table import (
    FAST_MULTIPLIERS,
    LONG_CONTEXT_PRICES,
    NO_REGIONAL_PREMIUM,
    PRICES,
    REGIONAL_PREFIXES,
    REGIONAL_PREMIUM,
    WEB_SEARCH_USD_PER_REQUEST,
    Rates,
)

__all__ = [
    "LONG_CONTEXT_THRESHOLD",
    "SYNTHETIC_MODEL",
    "CostMode",
    "LongContextRates",
    "ModelPrice",
    "cost_usd",
    "entry_cost",
    "lookup_price",
    "normalize_model",
]

CostMode = Literal["auto", "calculate", "display"]

SYNTHETIC_MODEL: Final = "<synthetic>"
LONG_CONTEXT_THRESHOLD: Final = 200_000
_PER_MILLION: Final = 1_000_000.0
# Anthropic ids carry YYYYMMDD snapshots; any other numeric suffix is a different model version.
_DATE_DIGITS: Final = 8


class LongContextRates(msgspec.Struct, frozen=True, kw_only=True):
    """Premium rates (USD per million tokens) for requests over the long-context threshold."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float


class ModelPrice(msgspec.Struct, frozen=True, kw_only=True):
    """Prices in USD per million tokens for one table entry.

    ``model`` is the table key that matched, so callers can show which price was applied.
    """

    model: str
    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    long_context: LongContextRates | None = None
    fast_multiplier: float | None = None


def _build(key: str, rates: Rates) -> ModelPrice:
    long_rates = LONG_CONTEXT_PRICES.get(key)
    long_context = None
    if long_rates is not None:
        li, lo, lw5, lw1, lr = long_rates
        long_context = LongContextRates(
            input=li, output=lo, cache_write_5m=lw5, cache_write_1h=lw1, cache_read=lr
        )
    i, o, w5, w1, r = rates
    return ModelPrice(
        model=key,
        input=i,
        output=o,
        cache_write_5m=w5,
        cache_write_1h=w1,
        cache_read=r,
        long_context=long_context,
        fast_multiplier=FAST_MULTIPLIERS.get(key),
    )


_TABLE: Final[dict[str, ModelPrice]] = {key: _build(key, rates) for key, rates in PRICES.items()}

# `apac.` / `us-gov.` etc. are Bedrock cross-region inference profiles; `anthropic.` is the
# Bedrock vendor prefix. Both may appear without the other.
_BEDROCK_PREFIX: Final = re.compile(r"^(?:[a-z][a-z0-9-]*\.)?anthropic\.")
_BEDROCK_VERSION: Final = re.compile(r"-v\d+(?::\d+)?$")
_BRACKET_SUFFIX: Final = re.compile(r"\[[^\]]*\]$")


def normalize_model(model: str) -> str:
    """Strip provider wrappers so a model string becomes the plain Anthropic id.

    Handles a ``provider/`` path (``anthropic/``, ``vertex_ai/``, ``bedrock/``...; the last
    segment is kept), Bedrock region and ``anthropic.`` prefixes, Bedrock ``-v1:0`` version
    suffixes, Vertex ``@YYYYMMDD`` snapshots, dotted versions (``4.5`` → ``4-5``) and a
    trailing bracketed tag such as ``[1m]``. Unknown shapes pass through lower-cased.
    """
    name = model.strip().lower()
    name = _BRACKET_SUFFIX.sub("", name).strip()
    name = name.rsplit("/", 1)[-1]
    name = _BEDROCK_PREFIX.sub("", name)
    name = _BEDROCK_VERSION.sub("", name)
    return name.replace("@", "-").replace(".", "-")


def _family_matches(name: str, key: str) -> bool:
    """Whether table key ``key`` is a family prefix of the normalised ``name``.

    Follows ccusage's boundary rule: the key must end at a non-alphanumeric character, and when
    the key ends in a digit, a following ``-N`` blocks the match (``claude-sonnet-4`` must not
    price ``claude-sonnet-4-5``) unless N is an 8-digit date snapshot.
    """
    if not name.startswith(key):
        return False
    rest = name[len(key) :]
    if not rest:
        return True
    if rest[0].isalnum():
        return False
    if not key[-1].isdigit() or rest[0] not in "-.":
        return True
    digits = len(rest) - 1 - len(rest[1:].lstrip("0123456789"))
    if digits == 0:
        return True
    after = rest[1 + digits : 2 + digits]
    return digits == _DATE_DIGITS and (not after or not after.isalnum())


@lru_cache(maxsize=4096)
def lookup_price(model: str) -> ModelPrice | None:
    """Price for a model string: exact id, then normalised id, then longest family prefix.

    Returns None for models the table does not know; callers must flag those as unpriced
    rather than guess a tier.
    """
    exact = _TABLE.get(model)
    if exact is not None:
        return exact
    name = normalize_model(model)
    hit = _TABLE.get(name)
    if hit is not None:
        return hit
    best: str | None = None
    for key in _TABLE:
        if _family_matches(name, key) and (best is None or len(key) > len(best)):
            best = key
    return None if best is None else _TABLE[best]


def _regional(model: str, price: ModelPrice) -> bool:
    name = model.strip().lower()
    return name.startswith(REGIONAL_PREFIXES) and price.model not in NO_REGIONAL_PREMIUM


def cost_usd(
    model: str | None,
    input: int,
    output: int,
    cache_write_5m: int,
    cache_write_1h: int,
    cache_read: int,
    *,
    speed: str | None = None,
    web_search_requests: int = 0,
    include_web_search: bool = False,
) -> float | None:
    """Cost in USD of one API response, or None when the model has no known price.

    - ``model`` None or ``<synthetic>`` costs 0.0: Claude Code writes those lines itself and no
      API call was billed. An unknown model with no tokens at all also costs 0.0 (there is
      nothing to price; ccusage does not report it as unpriced either).
    - Long context follows Anthropic: for a model with a premium (Sonnet 4 / 4.5), when
      input + both cache writes + cache reads exceed 200,000 tokens, *every* token of the
      request, output included, is billed at the premium rates. ccusage instead tiers each
      category on its own (the first 200k of that category at base, the rest at premium), so
      the two differ only on such requests: ours is the amount Anthropic bills.
    - 1-hour cache writes use the table's 1h price, which is 2x input for every model, the same
      rule ccusage hard-codes.
    - ``speed == "fast"`` multiplies the whole token cost by the model's fast multiplier; a
      model without a fast price is billed at its normal rates.
    - Web search: ccusage 20 does not price ``server_tool_use.web_search_requests``; to stay
      comparable with it the requests are ignored by default. With ``include_web_search`` they
      add $10 per 1,000 (the Anthropic price), not scaled by fast mode.
    - Bedrock regional ids (``us.anthropic.…`` and other geographic prefixes) of Sonnet/Haiku
      4.5 and newer cost 10% more, as Anthropic and LiteLLM (so ccusage) price them.
    - Not modelled: the 1.1x US-only data-residency multiplier, which transcripts do not record.
    """
    if model is None or model == SYNTHETIC_MODEL:
        return 0.0
    price = lookup_price(model)
    if price is None:
        if input == output == cache_write_5m == cache_write_1h == cache_read == 0 and not (
            include_web_search and web_search_requests
        ):
            return 0.0
        return None
    rates: ModelPrice | LongContextRates = price
    prompt = input + cache_write_5m + cache_write_1h + cache_read
    if price.long_context is not None and prompt > LONG_CONTEXT_THRESHOLD:
        rates = price.long_context
    tokens = (
        input * rates.input
        + output * rates.output
        + cache_write_5m * rates.cache_write_5m
        + cache_write_1h * rates.cache_write_1h
        + cache_read * rates.cache_read
    ) / _PER_MILLION
    if speed == "fast" and price.fast_multiplier is not None:
        tokens *= price.fast_multiplier
    if _regional(model, price):
        tokens *= REGIONAL_PREMIUM
    if include_web_search:
        tokens += web_search_requests * WEB_SEARCH_USD_PER_REQUEST
    return tokens


def entry_cost(
    mode: CostMode, reported_cost_usd: float | None, calculated: float | None
) -> float | None:
    """Pick an entry's cost the way ccusage's ``--mode`` does.

    ``auto``: the logged ``costUSD`` when present (pre-1.0.9 Claude Code), else the calculated
    cost. ``calculate``: always the calculated cost. ``display``: the logged cost, or 0.0.
    None (unpriced) passes through from ``calculated`` so it is never hidden as zero.
    """
    if mode == "display":
        return 0.0 if reported_cost_usd is None else reported_cost_usd
    if mode == "calculate":
        return calculated
    return calculated if reported_cost_usd is None else reported_cost_usd
