"""The normaliser against real Claude Code line shapes (claude-code-formats.md §1.6, §3)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from usagectl.projections.events import Usage, decode, encode
from usagectl.projections.transcript import (
    BAD_COST,
    BAD_FIELD,
    BAD_TIMESTAMP,
    BAD_TOKENS,
    MISSING_TOKENS,
    NO_USAGE,
    NOT_JSON,
    TOO_LARGE,
    FileContext,
    Skipped,
    file_context,
    normalise,
)

ROOT = "/data/claude"
CTX = file_context(ROOT, f"{ROOT}/projects/-home-u-spotter/d6e0bada.jsonl", "laptop", "acct")

STREAMED_LAST = (
    b'{"parentUuid":"77bb87a7","isSidechain":false,"userType":"external","cwd":"/home/marco/'
    b'projects/spotter","sessionId":"d6e0bada","version":"2.1.38","message":{"model":"claude-'
    b'opus-4-6","id":"msg_019BN3","type":"message","role":"assistant","content":[{"type":"tool_'
    b'use","id":"toolu_017Q","name":"WebFetch","input":{"url":"https://x"}}],"stop_reason":null,'
    b'"usage":{"input_tokens":47,"cache_creation_input_tokens":1115,"cache_read_input_tokens":'
    b'26504,"output_tokens":173,"server_tool_use":{"web_search_requests":2,"web_fetch_requests"'
    b':0},"service_tier":"standard","cache_creation":{"ephemeral_1h_input_tokens":1115,"'
    b'ephemeral_5m_input_tokens":0},"inference_geo":"","iterations":[]}},"requestId":"req_011C",'
    b'"type":"assistant","uuid":"667b9363","timestamp":"2026-02-10T22:59:37.598Z"}'
)


def test_streamed_line_becomes_usage_event() -> None:
    event = normalise(CTX, 1234, STREAMED_LAST)
    assert isinstance(event, Usage)
    assert (event.message_id, event.request_id) == ("msg_019BN3", "req_011C")
    assert event.ts == datetime(2026, 2, 10, 22, 59, 37, 598000, tzinfo=UTC)
    assert (event.input, event.output, event.cache_read) == (47, 173, 26504)
    # The TTL breakdown replaces the flat cache-creation count.
    assert (event.cache_write_5m, event.cache_write_1h) == (0, 1115)
    assert event.web_search_requests == 2
    assert event.project == "/home/marco/projects/spotter"
    assert (event.project_dir, event.session_id) == ("-home-u-spotter", "d6e0bada")
    assert event.source.offset == 1234
    assert decode(encode(event)) == event


def test_event_id_depends_on_place_and_bytes() -> None:
    a = normalise(CTX, 0, STREAMED_LAST)
    b = normalise(CTX, 0, STREAMED_LAST)
    c = normalise(CTX, 10, STREAMED_LAST)
    assert isinstance(a, Usage) and isinstance(b, Usage) and isinstance(c, Usage)
    assert a.event_id == b.event_id != c.event_id


def test_flat_cache_creation_counts_as_5m_writes() -> None:
    line = (
        b'{"type":"assistant","timestamp":"2025-06-02T22:40:37.397Z","message":{"id":"m","model":'
        b'"claude-opus-4-20250514","usage":{"input_tokens":3,"cache_creation_input_tokens":161,'
        b'"cache_read_input_tokens":89356,"output_tokens":97}},"costUSD":0.5}'
    )
    event = normalise(CTX, 0, line)
    assert isinstance(event, Usage)
    assert (event.cache_write_5m, event.cache_write_1h) == (161, 0)
    assert event.reported_cost_usd == 0.5
    assert event.request_id is None


def test_subagent_file_rolls_into_parent_session() -> None:
    path = f"{ROOT}/projects/-p/4d5611e5/subagents/agent-a2898e3.jsonl"
    ctx = file_context(ROOT, path, "m", "a")
    assert (ctx.project_dir, ctx.session_id) == ("-p", "4d5611e5")
    nested = file_context(ROOT, f"{ROOT}/projects/-p/sess/chat.jsonl", "m", "a")
    assert nested.session_id == "sess"


@pytest.mark.parametrize(
    ("line", "reason", "rejected"),
    [
        (b"{not json", NOT_JSON, True),
        (b'{"type":"assistant","message":{"usage":{"input_tokens":1,"output', NOT_JSON, True),
        (b'{"type":"assistant","timestamp":"2026-01-01T00:00:00.000Z","message":{"usage":'
         b'{"output_tokens":5}}}', MISSING_TOKENS, True),
        (b'{"type":"assistant","timestamp":"2026-01-01T00:00:00.000Z","message":{"usage":'
         b'{"input_tokens":-1,"output_tokens":5}}}', BAD_TOKENS, True),
        (b'{"type":"assistant","timestamp":"2026-01-01T00:00:00.000Z","message":{"usage":'
         b'{"input_tokens":2000000.0,"output_tokens":5}}}', BAD_TOKENS, True),
        (b'{"type":"assistant","timestamp":"2026-01-01T00:00:00.000Z","message":{"usage":'
         b'{"input_tokens":"5","output_tokens":5}}}', BAD_TOKENS, True),
        (b'{"type":"assistant","timestamp":"2026-01-01T00:00:00.000Z","message":{"usage":'
         b'{"input_tokens":1000000000000000,"output_tokens":5}}}', TOO_LARGE, True),
        (b'{"type":"assistant","timestamp":"2026-01-01T00:00:00.000Z","message":{"usage":'
         b'{"input_tokens":1,"output_tokens":5,"cache_creation":'
         b'{"ephemeral_1h_input_tokens":9223372036854775807}}}}', TOO_LARGE, True),
        (b'{"type":"assistant","timestamp":"2026-01-01T00:00:00.000Z","costUSD":1e300,'
         b'"message":{"usage":{"input_tokens":1,"output_tokens":5}}}', BAD_COST, True),
        (b'{"type":"assistant","timestamp":"yesterday","message":{"usage":'
         b'{"input_tokens":1,"output_tokens":5}}}', BAD_TIMESTAMP, True),
        (b'{"type":"assistant","message":{"usage":{"input_tokens":1,"output_tokens":5}}}',
         BAD_TIMESTAMP, True),
        (b'{"type":"assistant","timestamp":"0001-01-01T00:00:00+14:00","message":{"usage":'
         b'{"input_tokens":1,"output_tokens":5}}}', BAD_TIMESTAMP, True),
        (b'{"type":"assistant","timestamp":"2026-01-01T00:00:00.000Z","isSidechain":"yes",'
         b'"message":{"usage":{"input_tokens":1,"output_tokens":5}}}', BAD_FIELD, True),
        (b'{"type":"assistant","timestamp":"2026-01-01T00:00:00.000Z","message":{"id":"x",'
         b'"model":"<synthetic>","content":[]}}', NO_USAGE, False),
        (b'{"type":"user","message":{"role":"user"},"toolUseResult":{"usage":{"input_tokens":1,'
         b'"output_tokens":9}}}', "skip:user", False),
        (b'{"type":"progress","data":{"type":"agent_progress","message":{"message":{"usage":'
         b'{"input_tokens":1,"output_tokens":777}}}}}', "skip:progress", False),
        (b'{"type":"summary","summary":"t","leafUuid":"u"}', "skip:summary", False),
        (b'{"type":"brand-new-kind"}', "skip:other", False),
    ],
)  # fmt: skip
def test_unusable_lines_get_a_reason(line: bytes, reason: str, rejected: bool) -> None:
    assert normalise(CTX, 0, line) == Skipped(reason, rejected)


def test_synthetic_line_with_usage_is_an_event_without_a_model_cost() -> None:
    line = (
        b'{"type":"assistant","timestamp":"2026-04-20T17:27:18.779Z","isApiErrorMessage":true,'
        b'"message":{"id":"e5bbbf08","model":"<synthetic>","usage":{"input_tokens":0,'
        b'"output_tokens":0}}}'
    )
    event = normalise(CTX, 0, line)
    assert isinstance(event, Usage)
    assert event.model == "<synthetic>"


def test_context_is_shared_by_every_line_of_a_file() -> None:
    assert isinstance(CTX, FileContext)
    assert CTX.machine == "laptop" and CTX.account == "acct"
