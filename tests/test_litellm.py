"""LiteLLM's price file merged over the bundled table, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from usagectl.projections.litellm import NotAPriceFile, claude_prices, merged

DAY = "2026-12-02"
BEFORE, AFTER = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC)


def test_bands_fast_and_derived_cache_prices_are_read() -> None:
    found = claude_prices({
        "anthropic/claude-nova-2": {"input_cost_per_token": 2e-06, "output_cost_per_token": 1e-05,
            "input_cost_per_token_above_200k_tokens": 4e-06,
            "output_cost_per_token_above_200k_tokens": 1.5e-05,
            "provider_specific_entry": {"fast": 3}},
    }, "test")  # fmt: skip
    nova = found["claude-nova-2"]
    # Cache prices it leaves out are derived as ccusage does: 1.25x, 2x and 0.1x input.
    assert (nova.cache_write_5m, nova.cache_write_1h, nova.cache_read) == (2.5, 4.0, 0.2)
    assert nova.band is not None and nova.band_threshold == 200_000
    assert (nova.band.input, nova.band.output, nova.band.cache_read) == (4.0, 15.0, 0.4)
    assert nova.fast_multiplier == 3.0


def test_a_model_known_by_its_family_keeps_its_history_before_the_update() -> None:
    # A new Opus 5.5 snapshot at a different price: the family's price before the update day,
    # LiteLLM's from it on; plain Opus 5.5 is untouched.
    snapshot = "claude-opus-5-5-20261201"
    found = claude_prices({snapshot: {"input_cost_per_token": 5e-06,
                                      "output_cost_per_token": 2.5e-05}}, "test")  # fmt: skip
    table, added, changed = merged(found, DAY)
    assert (added, changed) == ([], [snapshot])
    before, after = table.lookup(snapshot, BEFORE), table.lookup(snapshot, AFTER)
    assert before is not None and after is not None
    assert (before.input, before.cache_read, before.fast_multiplier) == (4.0, 0.2, 2.0)
    assert (after.input, after.cache_read, after.fast_multiplier) == (5.0, 0.5, 2.0)
    assert after.effective_from == DAY and before.source != after.source
    plain = table.lookup("claude-opus-5-5", AFTER)
    assert plain is not None and plain.input == 4.0


def test_an_identical_price_adds_no_row() -> None:
    found = claude_prices({"claude-sonnet-4-5": {
        "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
        "cache_creation_input_token_cost": 3.75e-06, "cache_read_input_token_cost": 3e-07}},
        "test")  # fmt: skip
    _, added, changed = merged(found, DAY)
    assert (added, changed) == ([], [])


@pytest.mark.parametrize(
    "data",
    [[], "x", {}, {"gpt-5": {"input_cost_per_token": 1e-06, "output_cost_per_token": 1e-06}}],
)
def test_not_a_price_file(data: object) -> None:
    with pytest.raises(NotAPriceFile):
        claude_prices(data, "test")
