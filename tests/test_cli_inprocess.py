"""The in-process tier: commands run through typer's CliRunner (no subprocess, no hub) for
argument parsing, refusals and rendering, on a read model written directly by the store."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from inprocess import isolated_home, write_read_model
from typer.testing import CliRunner
from usagectl.cli.app import app
from usagectl.processors.app.errors import UserError
from usagectl.processors.app.parsing import QueryError
from usagectl.projections.events import Source, Usage


def _usage(n: int, at: datetime, model: str = "claude-sonnet-4-5-20250929") -> Usage:
    return Usage(
        event_id=f"e{n}", ts=at, machine="desk", account="default", project="/work/app",
        project_dir="-work-app", session_id=f"s{n % 2}", source=Source("/x.jsonl", n),
        message_id=f"m{n}", request_id=f"r{n}", model=model, input=1000 * n, output=100 * n,
    )  # fmt: skip


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolated_home(tmp_path, monkeypatch, COLUMNS="160")


@pytest.fixture
def recorded(home: Path) -> Path:
    days = [datetime(2026, 9, d, 10, tzinfo=UTC) for d in (1, 1, 2, 3)]
    asyncio.run(
        write_read_model(home / "usage.db", [_usage(n, at) for n, at in enumerate(days, 1)])
    )
    return home


REFUSALS = [
    (["daily", "--since", "yesterday"], QueryError, "invalid --since 'yesterday'"),
    (["daily", "-z", "Mars/Base"], QueryError, "invalid --timezone 'Mars/Base'"),
    (["monthly", "--mode", "cheap"], QueryError, "invalid --mode 'cheap': choose one of"),
    (["weekly", "--start-of-week", "someday"], QueryError, "invalid --start-of-week 'someday'"),
    (["daily", "--since", "2026-09-05", "--until", "2026-09-01"], UserError, "invalid range"),
    (["session", "--limit", "0"], UserError, "invalid --limit 0"),
    (["blocks", "-t", "lots"], UserError, "invalid --token-limit 'lots'"),
    (["blocks", "--session-length", "0"], UserError, "invalid --session-length"),
    (["export", "--by", "week"], QueryError, "invalid --by 'week'"),
    (["export", "--from", "2026-09-05", "--to", "2026-09-01"], UserError, "invalid range"),
    (["trends", "--day", "20260931"], QueryError, "invalid --day '20260931'"),
]


@pytest.mark.parametrize(("args", "kind", "words"), REFUSALS)
def test_a_bad_option_is_refused_with_one_line_before_any_data_is_read(
    home: Path, args: list[str], kind: type[Exception], words: str
) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert isinstance(result.exception, kind), result.exception
    assert words in str(result.exception) and "\n" not in str(result.exception)


def test_daily_json_has_ccusages_shape_and_sums(recorded: Path) -> None:
    result = CliRunner().invoke(app, ["daily", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [d["date"] for d in report["daily"]] == ["2026-09-01", "2026-09-02", "2026-09-03"]
    assert report["daily"][0]["inputTokens"] == 3000 and report["daily"][0]["outputTokens"] == 300
    assert report["totals"]["inputTokens"] == 10_000


def test_filters_and_order_reach_the_builder(recorded: Path) -> None:
    result = CliRunner().invoke(app, ["daily", "--json", "-o", "desc", "--since", "20260902"])
    assert [d["date"] for d in json.loads(result.stdout)["daily"]] == ["2026-09-03", "2026-09-02"]
    result = CliRunner().invoke(app, ["session", "--json", "--limit", "1"])
    sessions = json.loads(result.stdout)["sessions"]
    assert len(sessions) == 1 and sessions[0]["sessionId"] == "s0"  # 2 + 4: the larger


def test_the_table_shows_every_day_and_the_total(recorded: Path) -> None:
    result = CliRunner().invoke(app, ["daily"])
    assert result.exit_code == 0, result.output
    for day in ("2026-09-01", "2026-09-02", "2026-09-03", "Total"):
        assert day in result.stdout


def test_an_empty_scope_says_why(recorded: Path) -> None:
    result = CliRunner().invoke(app, ["daily", "--machine", "nowhere"])
    assert result.exit_code == 0
    assert "No usage for --machine nowhere." in result.stdout


def test_serve_is_contributed_by_the_web_face(home: Path) -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0 and "serve" in result.stdout
    result = CliRunner().invoke(app, ["serve", "--port", "70000"])
    assert isinstance(result.exception, UserError) and "invalid --port 70000" in str(
        result.exception
    )
