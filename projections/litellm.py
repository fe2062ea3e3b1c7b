"""LiteLLM's ``model_prices_and_context_window.json`` (what ccusage fetches), merged over the
bundled price table. Pure: the caller reads the file and passes the decoded object.

Merge rule, per Claude model id LiteLLM prices:
- an id the bundled table does not know gets LiteLLM's price for all of its history;
- an id it knows keeps every bundled price (the dated facts); LiteLLM's price is added from the
  day of the update only where it differs, and a field LiteLLM leaves out or at 0 keeps the
  bundled value: a known price never becomes 0 or unknown.
Cache prices LiteLLM omits are derived as ccusage does (5m write 1.25x input, read 0.1x input);
a 1-hour write is 2x input, as ccusage hard-codes (LiteLLM's ``above_1hr`` has known errors).
Other providers' models are left out: Claude Code bills Claude models.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from .pricing import BUNDLED, ModelPrice, PriceTable, TierRates, normalize_model

_M = 1_000_000
_CLOSE = 1e-9


class NotAPriceFile(ValueError):
    """The data is not LiteLLM's price file (or prices no Claude model)."""


def _per_million(entry: Mapping[str, Any], field: str) -> float | None:
    value = entry.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return round(float(value) * _M, 9)


def _band(entry: Mapping[str, Any], inp: float) -> TierRates | None:
    b_in = _per_million(entry, "input_cost_per_token_above_200k_tokens")
    b_out = _per_million(entry, "output_cost_per_token_above_200k_tokens")
    if b_in is None or b_out is None:
        return None
    b_w5 = _per_million(entry, "cache_creation_input_token_cost_above_200k_tokens")
    b_read = _per_million(entry, "cache_read_input_token_cost_above_200k_tokens")
    return TierRates(
        input=b_in,
        output=b_out,
        cache_write_5m=b_w5 or 1.25 * b_in,
        cache_write_1h=2 * b_in,
        cache_read=b_read or 0.1 * b_in,
    )


def _fast(entry: Mapping[str, Any]) -> float | None:
    specific = entry.get("provider_specific_entry")
    value = specific.get("fast") if isinstance(specific, dict) else None
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _price(model: str, entry: Mapping[str, Any], source: str) -> ModelPrice | None:
    inp = _per_million(entry, "input_cost_per_token")
    out = _per_million(entry, "output_cost_per_token")
    if inp is None or out is None:
        return None
    band = _band(entry, inp)
    w5 = _per_million(entry, "cache_creation_input_token_cost")
    read = _per_million(entry, "cache_read_input_token_cost")
    return ModelPrice(
        model=model,
        input=inp,
        output=out,
        cache_write_5m=w5 or round(1.25 * inp, 9),
        cache_write_1h=round(2 * inp, 9),
        cache_read=read or round(0.1 * inp, 9),
        source=source,
        band_threshold=200_000 if band else None,
        band=band,
        fast_multiplier=_fast(entry),
    )


def claude_prices(data: object, source: str) -> dict[str, ModelPrice]:
    """Claude model id -> LiteLLM's price. Of several keys naming one id (``anthropic/…``,
    Bedrock regional rows that carry a premium) the plain id's row wins."""
    if not isinstance(data, dict):
        raise NotAPriceFile("not a JSON object of models")
    chosen: dict[str, tuple[tuple[bool, int], ModelPrice]] = {}
    for key, entry in data.items():
        if not isinstance(key, str) or not isinstance(entry, dict):
            continue
        model = normalize_model(key)
        if not model.startswith("claude-"):
            continue
        price = _price(model, entry, source)
        if price is None:
            continue
        rank = (key.strip().lower() != model, len(key))
        if model not in chosen or rank < chosen[model][0]:
            chosen[model] = (rank, price)
    if not chosen:
        raise NotAPriceFile("it prices no Claude model")
    return {m: p for m, (_, p) in chosen.items()}


def _same(a: ModelPrice, b: ModelPrice) -> bool:
    fields = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
    return all(abs(getattr(a, f) - getattr(b, f)) < _CLOSE for f in fields) and (
        a.fast_multiplier or 1.0
    ) == (b.fast_multiplier or 1.0)


def _over(known: ModelPrice, new: ModelPrice, model: str, day: str) -> ModelPrice:
    """LiteLLM's figures over a known price; what it lacks keeps the known value."""
    return msgspec.structs.replace(
        known,
        model=model,
        effective_from=day,
        source=new.source,
        fast_multiplier=new.fast_multiplier or known.fast_multiplier,
        band=new.band or known.band,
        band_threshold=new.band_threshold or known.band_threshold,
        **{
            f: getattr(new, f) or getattr(known, f)
            for f in ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
        },
    )


def merged(
    litellm: Mapping[str, ModelPrice], day: str, base: PriceTable = BUNDLED
) -> tuple[PriceTable, list[str], list[str]]:
    """The bundled table with LiteLLM's prices over it from ``day``; also the ids it added and
    the ids whose price changes from ``day``."""
    prices = base.prices()
    added, changed = [], []
    noon = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
    for model, new in sorted(litellm.items()):
        key = base.key_for(model)
        if key is None:
            prices.append(new)
            added.append(model)
            continue
        current = base.lookup(model, noon)
        if current is None or _same(current, new):
            continue
        if key != model:  # an id known by its family: it keeps the family's history
            prices += [msgspec.structs.replace(p, model=model) for p in base.history(key)]
        prices.append(_over(current, new, model, day))
        changed.append(model)
    return PriceTable(prices, origin=f"bundled + {len(litellm)} LiteLLM ids"), added, changed
