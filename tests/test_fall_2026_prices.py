"""Prices of the fall-2026 models, each checked against a figure computed by hand.

USD per million tokens (input / 5m write / 1h write / cache read / output), from
Anthropic's pricing and model pages (December 2026): Fable/Mythos 5.1 10/12.50/20/0.25/50;
Opus 5.5 4/5/8/0.20/20 (fast $8/$40); Sonnet 5.5 2/2.50/4/0.20/10, cache read 0.10 from
2026-10-07;
Haiku 5.5 0.10/0.125/0.20/0.01/0.50 up to a 100k prompt, above it the whole request at
0.50/0.625/1.00/0.05/2.50; inference_geo "us" 1.1x.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from usagectl.projections.events import Usage
from usagectl.projections.pricing import BUNDLED, lookup_price
from usagectl.projections.transcript import FileContext, Skipped, normalise, normalise_line

OCT6_LATE = datetime(2026, 10, 6, 23, 59, 59, tzinfo=UTC)
OCT7 = datetime(2026, 10, 7, 0, 0, 0, tzinfo=UTC)


def cost(
    model: str,
    *tokens: int,
    ts: datetime = OCT7,
    speed: str | None = None,
    inference_geo: str | None = None,
) -> float:
    t = (*tokens, 0, 0, 0, 0, 0)  # the five counts, missing ones 0
    got = BUNDLED.cost(
        model, (t[0], t[1], t[2], t[3], t[4]), ts=ts, speed=speed, inference_geo=inference_geo
    )
    assert got is not None
    return got


def test_sonnet_5_5_cache_read_halves_on_2026_10_07() -> None:
    # 1M cache reads: $0.20 the day before, $0.10 from midnight UTC on the 7th.
    assert cost("claude-sonnet-5-5", 0, 0, 0, 0, 1_000_000, ts=OCT6_LATE) == pytest.approx(0.20)
    assert cost("claude-sonnet-5-5", 0, 0, 0, 0, 1_000_000, ts=OCT7) == pytest.approx(0.10)
    # 1,000 in + 500 out + 2,000 5m writes + 10,000 reads on Oct 8:
    # 0.002 + 0.005 + 0.005 + 0.001 = $0.013
    assert cost("claude-sonnet-5-5", 1_000, 500, 2_000, 0, 10_000) == pytest.approx(0.013)
    before, after = (
        lookup_price("claude-sonnet-5-5", OCT6_LATE),
        lookup_price("claude-sonnet-5-5", OCT7),
    )
    assert before is not None and before.effective_from == "2026-09-28"
    assert after is not None and after.effective_from == "2026-10-07" and after.source


def test_haiku_5_5_bills_the_whole_request_higher_above_a_100k_prompt() -> None:
    # 100,000 prompt tokens exactly: 100k x 0.10 + 1k out x 0.50 = 0.01 + 0.0005
    assert cost("claude-haiku-5-5", 100_000, 1_000) == pytest.approx(0.0105)
    # 100,001: everything at 0.50 / 2.50 → 0.0500005 + 0.0025
    assert cost("claude-haiku-5-5", 100_001, 1_000) == pytest.approx(0.0525005)
    # The prompt counts cache reads and writes: 10 in + 60k reads + 40k 5m writes + 1h 0 = 100,010
    # → 10 x 0.50 + 60k x 0.05 + 40k x 0.625 + 2k out x 2.50 = 0.000005 + 0.003 + 0.025 + 0.005
    assert cost("claude-haiku-5-5", 10, 2_000, 40_000, 0, 60_000) == pytest.approx(0.033005)


def test_opus_5_5_and_its_1m_variant_with_fast_mode() -> None:
    # 1,000 in + 1,000 out: 0.004 + 0.020; fast ($8/$40) doubles it.
    assert cost("claude-opus-5-5", 1_000, 1_000) == pytest.approx(0.024)
    assert cost("claude-opus-5-5[1m]", 1_000, 1_000) == pytest.approx(0.024)
    assert cost("claude-opus-5-5", 1_000, 1_000, speed="fast") == pytest.approx(0.048)
    # 1M cache reads at 0.20, 1M 1h writes at 8.
    assert cost("claude-opus-5-5", 0, 0, 0, 1_000_000, 1_000_000) == pytest.approx(8.20)
    # Sonnet 5.5 has no fast mode: standard rates.
    assert cost("claude-sonnet-5-5", 1_000, 1_000, speed="fast") == pytest.approx(0.012)


def test_fable_and_mythos_5_1_cache_reads_are_a_quarter_dollar() -> None:
    for model in ("claude-fable-5-1", "claude-mythos-5-1"):
        assert cost(model, 0, 0, 0, 0, 1_000_000) == pytest.approx(0.25)
        # 1k in + 1k out + 1k 5m + 1k 1h: 0.01 + 0.05 + 0.0125 + 0.02
        assert cost(model, 1_000, 1_000, 1_000, 1_000) == pytest.approx(0.0925)
    assert cost("claude-fable-5", 0, 0, 0, 0, 1_000_000) == pytest.approx(1.00)
    assert cost("claude-sonnet-5", 1_000_000, 1_000_000) == pytest.approx(12.0)


def test_us_inference_geo_is_ten_percent_more_on_every_category() -> None:
    plain = cost("claude-sonnet-5-5", 1_000, 1_000, 1_000, 1_000, 1_000)
    # 0.002 + 0.010 + 0.0025 + 0.004 + 0.0001 = 0.0186
    assert plain == pytest.approx(0.0186)
    assert cost("claude-sonnet-5-5", 1_000, 1_000, 1_000, 1_000, 1_000,
                inference_geo="us") == pytest.approx(0.02046)  # fmt: skip
    for other in ("not_available", "", "eu"):
        assert cost("claude-sonnet-5-5", 1_000, 1_000, 1_000, 1_000, 1_000,
                    inference_geo=other) == pytest.approx(plain)  # fmt: skip


def test_bedrock_regional_premium_on_new_models() -> None:
    base = cost("claude-haiku-5-5", 1_000, 1_000)
    assert cost("us.anthropic.claude-haiku-5-5-v1:0", 1_000, 1_000) == pytest.approx(base * 1.1)
    assert cost("global.anthropic.claude-haiku-5-5-v1:0", 1_000, 1_000) == pytest.approx(base)


def test_a_line_before_a_models_first_price_gets_that_first_price() -> None:
    early = datetime(2026, 9, 1, tzinfo=UTC)
    assert cost("claude-haiku-5-5", 1_000, 0, ts=early) == pytest.approx(0.0001)


CTX = FileContext("m", "acct", "/c/projects/p/s.jsonl", "p", "s")
ADVISED = (
    b'{"type":"assistant","timestamp":"2026-10-08T10:00:00.000Z","requestId":"req_1","cwd":"/w",'
    b'"message":{"id":"msg_1","model":"claude-sonnet-4-6","usage":{"input_tokens":100,'
    b'"output_tokens":50,"inference_geo":"us","iterations":['
    b'{"type":"message","input_tokens":100,"output_tokens":50},'
    b'{"type":"fallback_message","model":"claude-opus-4-7","input_tokens":7,"output_tokens":7},'
    b'{"type":"advisor_message","model":"claude-opus-4-7","input_tokens":1000,'
    b'"output_tokens":200,"cache_read_input_tokens":500}]}}}'
)


def test_advisor_iterations_are_their_own_entries_and_fallbacks_are_not_billed() -> None:
    parsed = normalise_line(CTX, 0, ADVISED)
    assert not isinstance(parsed, Skipped)
    main, advisor = parsed
    assert (main.model, main.input, main.output, main.message_id) == (
        "claude-sonnet-4-6", 100, 50, "msg_1")  # fmt: skip
    assert (advisor.model, advisor.input, advisor.output, advisor.cache_read) == (
        "claude-opus-4-7", 1_000, 200, 500)  # fmt: skip
    assert advisor.message_id == "msg_1:advisor:0" and advisor.request_id == "req_1"
    assert advisor.event_id != main.event_id
    # Replay-stable: the same line read again gives the same ids.
    again = normalise_line(CTX, 0, ADVISED)
    assert not isinstance(again, Skipped)
    assert [e.event_id for e in again] == [main.event_id, advisor.event_id]
    assert isinstance(normalise(CTX, 0, ADVISED), Usage)
    # The facts page's figure: opus-4-7 advisor 1,000 in / 200 out / 500 read = $0.01025; the
    # line's inference_geo "us" applies to the advisor's request too: x1.1.
    assert advisor.inference_geo == "us"
    got = BUNDLED.cost(advisor.model, (1_000, 200, 0, 0, 500), ts=advisor.ts)
    assert got == pytest.approx(0.01025)
    geo = BUNDLED.cost(advisor.model, (1_000, 200, 0, 0, 500), inference_geo="us")
    assert geo == pytest.approx(0.011275)


def _with_iterations(iterations: str) -> bytes:
    return ADVISED.replace(ADVISED[ADVISED.index(b'"iterations":[') :],
                           b'"iterations":' + iterations.encode() + b"}}}")  # fmt: skip


def test_advisor_iterations_without_model_or_tokens_add_nothing_and_bad_ones_are_rejected() -> None:
    lenient = _with_iterations(
        '[{"type":null},{"input_tokens":1},{"type":"advisor_message","input_tokens":5,"output_tokens":5},'
        '{"type":"advisor_message","model":"claude-opus-4-7","input_tokens":5},'
        '{"type":"advisor_message","model":"claude-opus-4-7","input_tokens":9,"output_tokens":1,'
        '"cache_read_input_tokens":null,"cache_creation_input_tokens":null}]'
    )
    parsed = normalise_line(CTX, 0, lenient)
    assert not isinstance(parsed, Skipped)
    assert [(e.model, e.input, e.cache_read, e.message_id) for e in parsed[1:]] == [
        ("claude-opus-4-7", 9, 0, "msg_1:advisor:0")]  # fmt: skip
    assert isinstance(normalise_line(CTX, 0, _with_iterations("null")), tuple)
    bad = _with_iterations('[{"type":"advisor_message","model":"m","input_tokens":-1,'
                           '"output_tokens":1}]')  # fmt: skip
    assert normalise_line(CTX, 0, bad) == Skipped("bad_token_value", True)
