"""Fuzzing the statusLine reader: any stdin gives one line and exit 0; any rate_limits gives a
sane limit event or none."""

from __future__ import annotations

import json
import math
import os
import subprocess
from datetime import UTC, datetime

import pytest
from conftest import USAGECTL
from hypothesis import given, settings
from hypothesis import strategies as st
from usagectl.projections.limits import limit_event
from usagectl.projections.statusline import parse_input, render

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["model", "display_name", "id", "session_id", "cost", "total_cost_usd",
                         "rate_limits", "five_hour", "seven_day", "used_percentage",
                         "resets_at", "x"]), children, max_size=4),
    max_leaves=25,
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_any_json_renders_one_line_and_any_limit_is_sane(data: object) -> None:
    inp = parse_input(data)
    line = render(inp, None)
    assert isinstance(line, str) and "\n" not in line
    rate_limits = data.get("rate_limits") if isinstance(data, dict) else data
    event = limit_event(rate_limits, machine="m", account="a", session_id="s",
                        now=datetime.now(UTC))  # fmt: skip
    if event is not None:
        for pct in (event.five_hour_pct, event.seven_day_pct):
            assert pct is None or math.isfinite(pct)
        assert event.five_hour_pct is not None or event.seven_day_pct is not None


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_the_command_always_prints_a_line_and_exits_0(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    home = tmp_path_factory.mktemp("sl")
    env = {**os.environ, "HOME": str(home), "USAGECTL_HOME": str(home / "u"),
           "CLAUDE_CONFIG_DIR": str(home)}  # fmt: skip
    proc = subprocess.run([USAGECTL, "statusline"], input=raw, env=env, capture_output=True,
                          timeout=10)  # fmt: skip
    assert proc.returncode == 0
    assert proc.stdout.count(b"\n") == 1
