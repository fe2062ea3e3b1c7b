"""Fuzzing the hook reader and trimmer: any stdin is a small, contentless event or none, never a
crash; the folds take whatever it gives; the command always exits 0 with nothing on stdout."""

from __future__ import annotations

import json
import math
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conftest import USAGECTL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from usagectl.projections.events import Hook, decode, encode
from usagectl.projections.hookfold import fold
from usagectl.projections.hooks import EVENTS, hook_event

# Planted in every content field: it must never come out. Built from pieces because Hypothesis
# also draws the string literals of the test module, and an unknown field's short value is kept
# by design: the whole sentinel may only ever reach a content field.
SENTINEL = "".join(("Zq9", "-SENT", "INEL"))
MAX_EVENT = 16_384

keys = st.sampled_from([
    "hook_event_name", "session_id", "cwd", "tool_name", "tool_use_id", "agent_id",
    "agent_type", "duration_ms", "source", "reason", "trigger", "notification_type", "error",
    "is_interrupt", "prompt", "prompt_id", "effort", "level", "model", "x", "",
])  # fmt: skip
scalars = (
    st.none() | st.booleans() | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=300)
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys | st.text(max_size=90),
                                                                      children, max_size=5),
    max_leaves=30,
)  # fmt: skip
contents = st.recursive(
    st.just(SENTINEL) | st.text(max_size=20).map(lambda t: t + SENTINEL),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8),
                                                                      children, max_size=3),
    max_leaves=10,
)  # fmt: skip
payloads = st.fixed_dictionaries(
    {"hook_event_name": st.sampled_from(EVENTS) | st.text(min_size=1, max_size=400) | values},
    optional={
        "session_id": values, "cwd": values, "tool_name": values, "tool_use_id": values,
        "agent_id": values, "duration_ms": values, "error": values, "is_interrupt": values,
        "tool_input": contents, "tool_response": contents, "last_assistant_message": contents,
        "custom_instructions": contents, "message": contents, "prompt": contents,
        "permission_suggestions": contents,
    },
).flatmap(lambda d: st.dictionaries(keys | st.text(max_size=80), values, max_size=40).map(
    lambda extra: {**extra, **d}))  # fmt: skip


def nested(depth: int) -> bytes:
    inner = b"[" * depth + b"1" + b"]" * depth
    return b'{"hook_event_name":"PostToolUse","tool_response":' + inner + b"}"


def raw_inputs() -> st.SearchStrategy[bytes]:
    as_json = payloads.map(lambda d: json.dumps(d, allow_nan=True).encode())
    broken = st.tuples(as_json, st.integers(0, 400), st.binary(min_size=1, max_size=4)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :])  # fmt: skip
    return (
        as_json | broken | st.binary(max_size=200)
        | st.integers(1, 200_000).map(nested) | values.map(lambda v: json.dumps(v).encode())
    )  # fmt: skip


def check(event: Hook | None, prompts: bool) -> None:
    if event is None:
        return
    data = encode(event)
    assert decode(data) == event
    if not prompts:
        assert len(data) < MAX_EVENT, len(data)
        assert SENTINEL.encode() not in data
    assert event.name
    assert event.duration_ms is None or (math.isfinite(event.duration_ms)
                                         and event.duration_ms >= 0)  # fmt: skip
    fold(set(), {}, {}, [event])


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_inputs(), st.booleans())
def test_any_stdin_is_a_small_contentless_event_or_none(raw: bytes, prompts: bool) -> None:
    now = datetime.now(UTC)
    check(hook_event(raw, machine="m", account="a", now=now, keep_prompts=prompts), prompts)


@settings(max_examples=300, deadline=None)
@given(payloads)
def test_every_payload_with_a_name_is_kept(data: dict[str, Any]) -> None:
    event = hook_event(json.dumps(data).encode(), machine="m", account="a", now=datetime.now(UTC))
    name = data["hook_event_name"]
    assert (event is not None) == (isinstance(name, str) and name != "")
    check(event, False)


@settings(max_examples=20, deadline=None)
@given(raw_inputs())
def test_the_command_always_exits_0_silently(tmp_path_factory: Any, raw: bytes) -> None:
    home = Path(str(tmp_path_factory.mktemp("hook")))
    env = {**os.environ, "HOME": str(home), "USAGECTL_HOME": str(home / "u"),
           "CLAUDE_CONFIG_DIR": str(home)}  # fmt: skip
    proc = subprocess.run([USAGECTL, "hook"], input=raw, env=env, capture_output=True,
                          timeout=30)  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, b"")
