"""Fuzzing the transcript normaliser: whatever the bytes, a usage event or a named reason,
never a crash; accepted values are sane."""

from __future__ import annotations

import json
from datetime import UTC

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from usagectl.projections.events import MAX_TOKENS, Usage
from usagectl.projections.transcript import Skipped, file_context, normalise

CTX = file_context("/r", "/r/projects/-p/s.jsonl", "m", "a")
REASONS = {
    "not_json", "missing_token_field", "bad_token_value", "bad_timestamp", "bad_field_type",
    "assistant_without_usage", "blank", "nested_too_deep", "invalid_utf8",
    "token_value_too_large", "cost_out_of_range",
}  # fmt: skip


def check(line: bytes) -> None:
    result = normalise(CTX, 0, line)
    if isinstance(result, Skipped):
        assert result.reason in REASONS or result.reason.startswith("skip:"), result.reason
        return
    assert isinstance(result, Usage)
    for value in (result.input, result.output, result.cache_write_5m, result.cache_write_1h,
                  result.cache_read, result.web_search_requests):  # fmt: skip
        assert isinstance(value, int) and 0 <= value <= MAX_TOKENS
    assert result.ts.tzinfo is not None and result.ts.utcoffset() == UTC.utcoffset(None)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)
    check(b'{"type":"assistant","message":{"usage":' + data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                      children, max_size=4),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    usage=st.dictionaries(
        st.sampled_from(["input_tokens", "output_tokens", "cache_read_input_tokens",
                         "cache_creation_input_tokens", "cache_creation", "speed",
                         "server_tool_use"]),
        json_values, max_size=7),
    ts=st.one_of(json_values, st.sampled_from(["2026-09-01T00:00:00.000Z",
                                               "2026-09-01T00:00:00+09:00", "not a time"])),
    extra=st.dictionaries(st.sampled_from(["isSidechain", "requestId", "costUSD", "cwd",
                                           "agentId", "sessionId"]), json_values, max_size=3),
    cut=st.integers(0, 400),
)  # fmt: skip
def test_assistant_lines_with_wrong_types_and_huge_numbers(
    usage: dict[str, object], ts: object, extra: dict[str, object], cut: int
) -> None:
    line = {
        "type": "assistant",
        "timestamp": ts,
        **extra,
        "message": {"id": "msg_1", "model": "claude-sonnet-4-5", "usage": usage},
    }
    raw = json.dumps(line, allow_nan=True).encode()
    check(raw)
    check(raw[:cut])  # truncated mid-JSON


def test_deep_nesting_huge_lines_and_invalid_utf8() -> None:
    check(b'{"type":"assistant","message":{"usage":' + b"[" * 100_000 + b"]" * 100_000 + b"}}")
    big = "x" * 10_000_000
    check(json.dumps({"type": "user", "message": {"content": big}}).encode())
    check(b'{"type":"assistant","timestamp":"2026-09-01T00:00:00.000Z","message":{"usage":'
          b'{"input_tokens":1,"output_tokens":2}},"cwd":"\xff\xfe"}')  # fmt: skip
    check(b'{"type":"assistant","timestamp":"2026-09-01T00:00:00.000Z","message":{"usage":'
          b'{"input_tokens":NaN,"output_tokens":2}}}')  # fmt: skip
