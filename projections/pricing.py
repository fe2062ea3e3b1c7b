"""Model-id resolution and per-entry cost from a date-effective price table.

Pure: no files, no clock, no network. The table in use is the bundled one (``price_table``)
unless a process installs another with ``use_table`` (the LiteLLM file ``usagectl prices update``
keeps, merged over the bundled one; see ``litellm``). Results match ccusage 20's offline costs
for ordinary traffic; the deliberate differences are written down where they happen
(``PriceTable.cost``) and in ``normalize_model``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final, Literal

import msgspec
from usagectl.projections.price_table import (
    GEO_MULTIPLIERS,
    REGIONAL_PREFIXES,
    REGIONAL_PREMIUM,
    ROWS,
    WEB_SEARCH_USD_PER_REQUEST,
    Row,
)

__all__ = [
    "SYNTHETIC_MODEL",
    "CostMode",
    "ModelPrice",
    "PriceTable",
    "TierRates",
    "active_table",
    "cost_usd",
    "entry_cost",
    "lookup_price",
    "normalize_model",
    "use_table",
]

CostMode = Literal["auto", "calculate", "display"]

SYNTHETIC_MODEL: Final = "<synthetic>"
_PER_MILLION: Final = 1_000_000.0
# Anthropic ids carry YYYYMMDD snapshots; any other numeric suffix is a different model version.
_DATE_DIGITS: Final = 8


class TierRates(msgspec.Struct, frozen=True, kw_only=True):
    """USD per million tokens for each token category."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float


class ModelPrice(msgspec.Struct, frozen=True, kw_only=True):
    """One price of one table key: in force from ``effective_from`` (a UTC date, None: from the
    start) until the key's next price. ``model`` is the key, so callers can show what applied.

    ``band``: above ``band_threshold`` prompt tokens (input + cache writes + cache reads) the
    whole request, output included, is billed at the band's rates (Sonnet 4/4.5 long context,
    Haiku 5.5 over 100k)."""

    model: str
    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    effective_from: str | None = None
    source: str = ""
    band_threshold: int | None = None
    band: TierRates | None = None
    fast_multiplier: float | None = None
    regional: bool = True


def _tier(rates: tuple[float, float, float, float, float]) -> TierRates:
    i, o, w5, w1, r = rates
    return TierRates(input=i, output=o, cache_write_5m=w5, cache_write_1h=w1, cache_read=r)


def prices_of(row: Row) -> list[ModelPrice]:
    i, o, w5, w1, r = row.rates
    threshold, band = (row.band[0], _tier(row.band[1])) if row.band else (None, None)
    return [
        ModelPrice(
            model=key,
            input=i,
            output=o,
            cache_write_5m=w5,
            cache_write_1h=w1,
            cache_read=r,
            effective_from=row.since,
            source=row.source,
            band_threshold=threshold,
            band=band,
            fast_multiplier=row.fast,
            regional=row.regional,
        )
        for key in row.keys
    ]


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


def _start(day: str | None) -> datetime | None:
    return None if day is None else datetime.fromisoformat(day).replace(tzinfo=UTC)


class PriceTable:
    """Every price of every key, ordered by the date each took effect."""

    def __init__(self, prices: Iterable[ModelPrice], origin: str = "bundled") -> None:
        by_key: dict[str, list[ModelPrice]] = {}
        for p in prices:
            by_key.setdefault(p.model, []).append(p)
        self.origin = origin
        self._by_key = {
            k: tuple(sorted(v, key=lambda p: p.effective_from or "")) for k, v in by_key.items()
        }
        self._keys: dict[str, str | None] = {}
        # Each price's start as an aware datetime (midnight UTC): compared without formatting.
        self._starts = {
            k: tuple(_start(p.effective_from) for p in v) for k, v in self._by_key.items()
        }

    def prices(self) -> list[ModelPrice]:
        return [p for key in sorted(self._by_key) for p in self._by_key[key]]

    def history(self, key: str) -> tuple[ModelPrice, ...]:
        return self._by_key.get(key, ())

    def key_for(self, model: str) -> str | None:
        """The table key for a model string: exact id, then normalised id, then the longest
        family prefix; None for models the table does not know (flag them, never guess)."""
        if model in self._keys:
            return self._keys[model]
        found: str | None = model if model in self._by_key else None
        if found is None:
            name = normalize_model(model)
            if name in self._by_key:
                found = name
            else:
                for key in self._by_key:
                    if _family_matches(name, key) and (found is None or len(key) > len(found)):
                        found = key
        self._keys[model] = found
        return found

    def lookup(self, model: str, ts: datetime | None = None) -> ModelPrice | None:
        """The price in force at ``ts`` (the newest without it). A response older than its
        model's first price gets that first price: the model existed, clocks drift."""
        key = self.key_for(model)
        if key is None:
            return None
        history = self._by_key[key]
        if len(history) == 1:
            return history[0]
        if ts is None:
            return history[-1]
        current = history[0]
        for start, p in zip(self._starts[key][1:], history[1:], strict=True):
            if start is not None and start <= ts:
                current = p
        return current

    def cost(
        self,
        model: str | None,
        tokens: tuple[int, int, int, int, int],
        *,
        ts: datetime | None = None,
        speed: str | None = None,
        inference_geo: str | None = None,
        web_search_requests: int = 0,
        include_web_search: bool = False,
    ) -> float | None:
        """Cost in USD of one API response, or None when the model has no known price.

        ``tokens`` is (input, output, 5m writes, 1h writes, cache reads).
        - ``model`` None or ``<synthetic>`` costs 0.0: Claude Code writes those lines itself and
          no API call was billed. An unknown model with no tokens at all also costs 0.0.
        - Bands follow Anthropic: above the threshold *every* token of the request, output
          included, is billed at the band's rates. ccusage instead tiers each category on its
          own above 200k (and knows no other threshold): ours is the amount Anthropic bills.
        - ``speed == "fast"`` multiplies the whole token cost by the model's fast multiplier; a
          model without a fast price is billed at its normal rates.
        - ``inference_geo`` "us" is 1.1x on every category; Bedrock regional ids
          (``us.anthropic.…``…) of models with a global endpoint cost 10% more.
        - Web search: ccusage 20 does not price ``server_tool_use.web_search_requests``; to stay
          comparable they are ignored by default. With ``include_web_search`` they add $10 per
          1,000 (the Anthropic price), not scaled by fast mode or region.
        """
        if model is None or model == SYNTHETIC_MODEL:
            return 0.0
        inp, out, w5, w1, read = tokens
        price = self.lookup(model, ts)
        if price is None:
            if not any(tokens) and not (include_web_search and web_search_requests):
                return 0.0
            return None
        rates: ModelPrice | TierRates = price
        if price.band is not None and inp + w5 + w1 + read > (price.band_threshold or 0):
            rates = price.band
        usd = (
            inp * rates.input
            + out * rates.output
            + w5 * rates.cache_write_5m
            + w1 * rates.cache_write_1h
            + read * rates.cache_read
        ) / _PER_MILLION
        if speed == "fast" and price.fast_multiplier is not None:
            usd *= price.fast_multiplier
        if price.regional and model.strip().lower().startswith(REGIONAL_PREFIXES):
            usd *= REGIONAL_PREMIUM
        usd *= GEO_MULTIPLIERS.get(inference_geo or "", 1.0)
        if include_web_search:
            usd += web_search_requests * WEB_SEARCH_USD_PER_REQUEST
        return usd


BUNDLED: Final = PriceTable([p for row in ROWS for p in prices_of(row)])
_active: list[PriceTable] = [BUNDLED]


def use_table(table: PriceTable) -> None:
    """Install the table this process prices with (the stored update merged over the bundled
    one); the read model must then be rebuilt for history to follow."""
    _active[0] = table


def active_table() -> PriceTable:
    return _active[0]


def lookup_price(model: str, ts: datetime | None = None) -> ModelPrice | None:
    return active_table().lookup(model, ts)


def cost_usd(
    model: str | None,
    input: int,
    output: int,
    cache_write_5m: int,
    cache_write_1h: int,
    cache_read: int,
    *,
    ts: datetime | None = None,
    speed: str | None = None,
    inference_geo: str | None = None,
    web_search_requests: int = 0,
    include_web_search: bool = False,
) -> float | None:
    """``PriceTable.cost`` with the table in use."""
    return active_table().cost(
        model,
        (input, output, cache_write_5m, cache_write_1h, cache_read),
        ts=ts,
        speed=speed,
        inference_geo=inference_geo,
        web_search_requests=web_search_requests,
        include_web_search=include_web_search,
    )


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
