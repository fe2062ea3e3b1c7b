"""ccusage's 5-hour block rule, burn rate and projection (ccusage-behaviour.md §5)."""

from __future__ import annotations

from usagectl.projections.blocks import (
    HOUR_MS,
    BlockEntry,
    burn_rate,
    identify_blocks,
    is_active,
    limit_status,
    projection,
    session_ms,
)

FIVE_H = session_ms(5)
T = 1_795_000_000_000 - 1_795_000_000_000 % HOUR_MS  # an hour boundary


def entry(
    ts_ms: int, tokens: int = 100, cost_nano: int = 1_000_000, model: str = "m"
) -> BlockEntry:
    return BlockEntry(ts_ms, tokens, 0, 0, 0, (cost_nano, cost_nano, 0), model)


def test_block_starts_at_the_utc_hour_and_lasts_the_session_length() -> None:
    blocks = identify_blocks([entry(T + 25 * 60_000)], FIVE_H)
    assert (blocks[0].start_ms, blocks[0].end_ms) == (T, T + FIVE_H)


def test_new_block_after_five_hours_from_start_strictly() -> None:
    at_edge = identify_blocks([entry(T), entry(T + FIVE_H)], FIVE_H)
    assert len(at_edge) == 1
    past = identify_blocks([entry(T), entry(T + 4 * HOUR_MS), entry(T + FIVE_H + 1)], FIVE_H)
    assert [b.entries for b in past] == [2, 1]
    assert not any(b.is_gap for b in past)


def test_silence_longer_than_the_session_makes_a_gap_block() -> None:
    blocks = identify_blocks([entry(T + 10 * 60_000), entry(T + 12 * HOUR_MS)], FIVE_H)
    assert [b.is_gap for b in blocks] == [False, True, False]
    gap = blocks[1]
    assert gap.start_ms == T + 10 * 60_000 + FIVE_H and gap.end_ms == T + 12 * HOUR_MS


def test_burn_rate_and_projection_match_ccusage_example() -> None:
    # ccusage verified: 40,200 tokens over 30 minutes -> 1340 tok/min, projected 324,280.
    first = T + 30 * 60_000
    e1 = BlockEntry(first, 100, 2500, 2500, 15000, (51_675_000, 0, 0), "m")
    e2 = BlockEntry(first + 30 * 60_000, 100, 2500, 2500, 15000, (51_675_000, 0, 0), "m")
    block = identify_blocks([e1, e2], FIVE_H)[0]
    now = first + 58 * 60_000  # 212 minutes before the block ends
    assert is_active(block, now, FIVE_H)
    rate = burn_rate(block, now, FIVE_H)
    assert rate is not None
    assert rate.tokens_per_minute == 1340.0
    assert round(rate.tokens_per_minute_for_indicator, 2) == 173.33
    assert round(rate.cost_per_hour, 4) == 0.2067
    proj = projection(block, now, FIVE_H)
    assert proj is not None and proj.remaining_minutes == 212
    assert proj.total_tokens == 324_280
    assert proj.total_cost == 0.83
    assert limit_status(proj.total_tokens, 30_000) == (1080.93, "exceeds")


def test_single_entry_block_has_no_burn_rate_and_old_blocks_are_inactive() -> None:
    block = identify_blocks([entry(T)], FIVE_H)[0]
    assert burn_rate(block, T + 60_000, FIVE_H) is None
    assert not is_active(block, T + FIVE_H + 1, FIVE_H)


def test_models_listed_once_in_order_of_first_use_without_synthetic() -> None:
    blocks = identify_blocks([entry(T, model="b"), entry(T + 1, model=""), entry(T + 2, model="a"),
                              entry(T + 3, model="b")], FIVE_H)  # fmt: skip
    assert blocks[0].models == ["b", "a"]
