"""Pricing: model-id resolution, per-entry cost, cost modes.

Figures marked "ccusage" were produced by ccusage 20 (offline, --mode calculate); ours must
agree wherever our rules do.
"""

from __future__ import annotations

import pytest
from usagectl.projections.price_table import ROWS
from usagectl.projections.pricing import (
    cost_usd,
    entry_cost,
    lookup_price,
    normalize_model,
)

M = 1_000_000


def one_million_each(model: str) -> float | None:
    """ccusage's probe: 1M input, output, 5m cache write and cache read tokens."""
    return cost_usd(model, M, M, M, 0, M)


# --- ccusage-verified figures ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-opus-4-1-20250805", 110.25),
        ("claude-haiku-4-5-20251001", 7.35),
        ("claude-opus-4-6", 36.75),
        ("claude-opus-4-7", 36.75),
        ("claude-opus-5", 36.75),
        ("claude-3-5-sonnet-20241022", 22.05),
    ],
)
def test_ccusage_verified_one_million_each(model: str, expected: float) -> None:
    assert one_million_each(model) == pytest.approx(expected)


def test_ccusage_verified_fast_mode_opus_4_6() -> None:
    assert cost_usd("claude-opus-4-6", 10, 100, 0, 0, 0, speed="fast") == pytest.approx(0.0153)
    assert cost_usd("claude-opus-4-6", 10, 100, 0, 0, 0) == pytest.approx(0.00255)


def test_ccusage_verified_5m_and_1h_cache_writes_priced_apart() -> None:
    got = cost_usd("claude-sonnet-4-20250514", 0, 0, 100, 500, 0)
    assert got == pytest.approx(100 * 3.75e-6 + 500 * 6e-6)


def test_ccusage_sonnet_4_tier_below_threshold_agrees() -> None:
    # ccusage tiers per category; under 200k in total both rules give base rates.
    assert cost_usd("claude-sonnet-4", 150_000, 1_000, 0, 0, 0) == pytest.approx(
        150_000 * 3e-6 + 1_000 * 15e-6
    )


# --- table prices ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "input_", "output", "write_5m", "write_1h", "read"),
    [
        ("claude-opus-4-5-20251101", 5.0, 25.0, 6.25, 10.0, 0.5),
        ("claude-opus-4-20250514", 15.0, 75.0, 18.75, 30.0, 1.5),
        ("claude-3-opus-20240229", 15.0, 75.0, 18.75, 30.0, 1.5),
        ("claude-3-haiku-20240307", 0.25, 1.25, 0.30, 0.50, 0.03),
        ("claude-3-5-haiku-20241022", 0.8, 4.0, 1.0, 1.6, 0.08),
        ("claude-3-7-sonnet-20250219", 3.0, 15.0, 3.75, 6.0, 0.3),
        ("claude-sonnet-5", 2.0, 10.0, 2.5, 4.0, 0.2),
        ("claude-fable-5", 10.0, 50.0, 12.5, 20.0, 1.0),
        ("claude-mythos-5", 10.0, 50.0, 12.5, 20.0, 1.0),
        ("claude-sonnet-4-6", 3.0, 15.0, 3.75, 6.0, 0.3),
    ],
)
def test_table_rates(
    model: str, input_: float, output: float, write_5m: float, write_1h: float, read: float
) -> None:
    price = lookup_price(model)
    assert price is not None
    got = (price.input, price.output, price.cache_write_5m, price.cache_write_1h, price.cache_read)
    assert got == (input_, output, write_5m, write_1h, read)


def test_one_hour_write_is_twice_input_everywhere() -> None:
    # ccusage hard-codes 1h = 2x input; a table row breaking this would silently diverge.
    for row in ROWS:
        inp, _out, _w5, w1, _read = row.rates
        assert w1 == pytest.approx(2 * inp), row.keys
        if row.band is not None:
            assert row.band[1][3] == pytest.approx(2 * row.band[1][0]), row.keys


def test_every_row_says_where_it_comes_from_and_dates_are_iso() -> None:
    for row in ROWS:
        assert row.source, row.keys
        assert row.since is None or (len(row.since) == 10 and row.since[4] == "-"), row.keys


# --- model-id resolution --------------------------------------------------------------------


@pytest.mark.parametrize(
    "wrapped",
    [
        "anthropic/claude-sonnet-4-5-20250929",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "apac.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "anthropic.claude-sonnet-4-5-20250929-v2:0",
        "claude-sonnet-4-5@20250929",
        "vertex_ai/claude-sonnet-4-5@20250929",
        "claude-sonnet-4-5-20250929[1m]",
        "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "  Claude-Sonnet-4-5-20250929 ",
    ],
)
def test_provider_wrappers_normalise_to_plain_id(wrapped: str) -> None:
    assert normalize_model(wrapped) == "claude-sonnet-4-5-20250929"
    price = lookup_price(wrapped)
    assert price is not None
    assert price.model == "claude-sonnet-4-5-20250929"


def test_bracket_suffix_on_undated_id() -> None:
    assert normalize_model("claude-opus-4-8[1m]") == "claude-opus-4-8"
    price = lookup_price("claude-opus-4-8[1m]")
    assert price is not None and price.model == "claude-opus-4-8"


def test_dotted_version_normalises() -> None:
    assert normalize_model("claude-sonnet-4.5") == "claude-sonnet-4-5"


def test_sonnet_4_and_4_5_not_confused() -> None:
    s4 = lookup_price("claude-sonnet-4-20250514")
    s45 = lookup_price("claude-sonnet-4-5-20250929")
    assert s4 is not None and s4.model == "claude-sonnet-4-20250514"
    assert s45 is not None and s45.model == "claude-sonnet-4-5-20250929"
    # An unseen 4.5 snapshot must reach the 4.5 family, never plain sonnet-4.
    future = lookup_price("claude-sonnet-4-5-20261231")
    assert future is not None and future.model == "claude-sonnet-4-5"


def test_opus_4_5_never_falls_to_opus_4() -> None:
    price = lookup_price("claude-opus-4-5-20991231")
    assert price is not None
    assert price.model == "claude-opus-4-5"
    assert price.input == 5.0  # Opus 4 would be 15


def test_date_suffix_allowed_version_suffix_blocked() -> None:
    dated = lookup_price("claude-opus-4-20991231")
    assert dated is not None and dated.model == "claude-opus-4"
    # A version we do not know must not borrow an older family's price.
    assert lookup_price("claude-opus-4-9") is None
    assert lookup_price("claude-sonnet-4-7-20270101") is None
    assert lookup_price("claude-opus-4-123") is None


def test_aliases_and_suffix_tags_resolve() -> None:
    for model, key in [
        ("claude-sonnet-4-0", "claude-sonnet-4-0"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
        ("us.anthropic.claude-opus-4-6-v1", "claude-opus-4-6"),
    ]:
        price = lookup_price(model)
        assert price is not None and price.model == key, model


def test_unknown_model_is_unpriced() -> None:
    assert lookup_price("totally-unknown-model-x") is None
    assert lookup_price("gpt-5") is None
    assert lookup_price("claude-sonnet") is None
    assert cost_usd("totally-unknown-model-x", 10, 10, 0, 0, 0) is None


def test_unknown_model_without_tokens_costs_nothing() -> None:
    assert cost_usd("totally-unknown-model-x", 0, 0, 0, 0, 0) == 0.0


def test_synthetic_and_missing_model_cost_zero() -> None:
    assert cost_usd("<synthetic>", 1000, 1000, 0, 0, 0) == 0.0
    assert cost_usd(None, 1000, 1000, 0, 0, 0) == 0.0


# --- long context ---------------------------------------------------------------------------


def test_long_context_prices_whole_request_at_premium() -> None:
    got = cost_usd("claude-sonnet-4-5-20250929", 250_000, 1_000, 0, 0, 0)
    assert got == pytest.approx(250_000 * 6e-6 + 1_000 * 22.5e-6)


def test_long_context_threshold_counts_cache_tokens() -> None:
    # 10k fresh input + 150k cache read + 50k 5m write = 210k prompt tokens → premium.
    got = cost_usd("claude-sonnet-4", 10_000, 2_000, 50_000, 0, 150_000)
    expected = 10_000 * 6e-6 + 2_000 * 22.5e-6 + 50_000 * 7.5e-6 + 150_000 * 0.6e-6
    assert got == pytest.approx(expected)
    # 1h writes count towards the threshold and use the premium 1h rate.
    got_1h = cost_usd("claude-sonnet-4", 0, 0, 0, 200_001, 0)
    assert got_1h == pytest.approx(200_001 * 12e-6)


def test_long_context_threshold_is_strictly_above_200k() -> None:
    got = cost_usd("claude-sonnet-4-5", 200_000, 0, 0, 0, 0)
    assert got == pytest.approx(200_000 * 3e-6)


def test_one_million_each_on_sonnet_4_5_uses_premium_everywhere() -> None:
    # ccusage reports $33.69 here (per-category tiering); Anthropic bills all at premium.
    assert one_million_each("claude-sonnet-4-5") == pytest.approx(6 + 22.5 + 7.5 + 0.6)


@pytest.mark.parametrize("model", ["claude-opus-4-6", "claude-sonnet-4-6", "claude-opus-4-5"])
def test_no_long_context_premium_for_other_models(model: str) -> None:
    price = lookup_price(model)
    assert price is not None
    got = cost_usd(model, 300_000, 0, 0, 0, 0)
    assert got == pytest.approx(300_000 * price.input / M)


# --- fast mode ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "multiplier"),
    [
        ("claude-opus-4-6", 6),
        ("claude-opus-4-7", 6),
        ("claude-opus-4-8", 2),
        ("claude-opus-5", 2),
        ("claude-sonnet-4-5", 1),
        ("claude-haiku-4-5", 1),
    ],
)
def test_fast_multiplier(model: str, multiplier: float) -> None:
    normal = cost_usd(model, 1_000, 2_000, 3_000, 4_000, 5_000)
    fast = cost_usd(model, 1_000, 2_000, 3_000, 4_000, 5_000, speed="fast")
    standard = cost_usd(model, 1_000, 2_000, 3_000, 4_000, 5_000, speed="standard")
    assert normal is not None and fast is not None
    assert fast == pytest.approx(normal * multiplier)
    assert standard == normal


# --- web search -----------------------------------------------------------------------------


def test_web_search_ignored_by_default_like_ccusage() -> None:
    base = cost_usd("claude-sonnet-4-5", 100, 100, 0, 0, 0)
    assert cost_usd("claude-sonnet-4-5", 100, 100, 0, 0, 0, web_search_requests=3) == base


def test_web_search_opt_in_adds_ten_dollars_per_thousand() -> None:
    base = cost_usd("claude-opus-4-6", 100, 100, 0, 0, 0)
    assert base is not None
    got = cost_usd(
        "claude-opus-4-6",
        100,
        100,
        0,
        0,
        0,
        speed="fast",
        web_search_requests=3,
        include_web_search=True,
    )
    assert got == pytest.approx(base * 6 + 0.03)


# --- cost modes -----------------------------------------------------------------------------


def test_entry_cost_auto_prefers_reported() -> None:
    assert entry_cost("auto", 1.2345, 9.0) == 1.2345
    assert entry_cost("auto", None, 9.0) == 9.0
    assert entry_cost("auto", None, None) is None


def test_entry_cost_calculate_ignores_reported() -> None:
    assert entry_cost("calculate", 1.2345, 9.0) == 9.0
    assert entry_cost("calculate", 1.2345, None) is None


def test_entry_cost_display_uses_reported_or_zero() -> None:
    assert entry_cost("display", 1.2345, 9.0) == 1.2345
    assert entry_cost("display", None, 9.0) == 0.0
    assert entry_cost("display", None, None) == 0.0


def test_bedrock_regional_endpoints_cost_ten_percent_more_from_4_5_on() -> None:
    base = cost_usd("claude-sonnet-4-5-20250929", 1000, 1000, 100, 100, 1000)
    regional = cost_usd("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 1000, 1000, 100, 100, 1000)
    global_ = cost_usd(
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0", 1000, 1000, 100, 100, 1000
    )
    assert base is not None and regional is not None
    assert regional == pytest.approx(base * 1.1)
    assert global_ == pytest.approx(base)
    old = cost_usd("us.anthropic.claude-sonnet-4-20250514-v1:0", 1000, 1000, 0, 0, 0)
    assert old == pytest.approx(cost_usd("claude-sonnet-4-20250514", 1000, 1000, 0, 0, 0))
