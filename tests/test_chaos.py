"""Chaos, CI-sized: at least 20 SIGKILLs of the producer, the processor and the hub during
syncs; nothing acknowledged is lost, nothing is counted twice, and a replay agrees."""

from __future__ import annotations

from pathlib import Path

import pytest
from chaos import reports, run_chaos
from conftest import Env, NatsServer


@pytest.mark.slow
def test_kills_lose_nothing_and_double_nothing(
    tmp_path: Path, env: Env, nats_server: NatsServer
) -> None:
    report, truth = run_chaos(env, nats_server, tmp_path / "staging", rounds=24, seed=31,
                              sessions=240, min_kills=22)  # fmt: skip
    assert report.total >= 20, report
    assert all(n > 0 for n in report.kills.values()), report
    after_chaos = reports(env)
    daily = after_chaos["daily"]
    assert isinstance(daily, dict)
    assert daily["totals"]["totalTokens"] == truth["totals"]["totalTokens"]
    for row in daily["daily"]:
        expected = truth["daily"][row["date"]]["totals"]
        for key in ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens"):
            assert row[key] == expected[key], (row["date"], key)
    env.run("replay")
    assert reports(env) == after_chaos
