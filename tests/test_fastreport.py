"""The typer-free JSON path prints exactly what the typer commands print, and hands everything
it does not fully understand (help, tables, unknown options, bad values) to the typer app."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from inprocess import isolated_home, write_read_model
from typer.testing import CliRunner
from usagectl.cli import fastreport
from usagectl.cli.app import app
from usagectl.projections.events import Source, Usage


def _usage(n: int, at: datetime) -> Usage:
    model = ("claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805")[n % 2]
    return Usage(
        event_id=f"e{n}", ts=at, machine=("desk", "laptop")[n % 3 == 0], account="default",
        project=("/work/app", "/work/lib")[n % 4 == 0], project_dir="-work-app",
        session_id=f"s{n % 5}", source=Source("/x.jsonl", n), message_id=f"m{n}",
        request_id=f"r{n}", model=model, input=1000 + n, output=100 * n, cache_read=7 * n,
    )  # fmt: skip


def _usages() -> list[Usage]:
    start = datetime(2026, 8, 28, 20, tzinfo=UTC)
    return [_usage(n, start + timedelta(minutes=37 * n)) for n in range(400)]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = isolated_home(tmp_path, monkeypatch)
    asyncio.run(write_read_model(home / "usage.db", _usages()))
    return home


SAME = [
    ["daily", "--json"],
    ["daily", "-j", "-z", "Asia/Kathmandu", "--since", "2026-09-01", "--until=20260905"],
    ["daily", "--json", "--breakdown", "--machine", "desk", "-p", "lib", "-o", "desc"],
    ["weekly", "--json", "-w", "monday", "--mode", "calculate", "-z", "America/St_Johns"],
    ["monthly", "--json", "--timezone=Pacific/Chatham", "--compact"],
    ["session", "--json", "--limit", "3", "--project", "/work/app", "-s", "2026-09-02"],
    ["blocks", "--json", "--token-limit", "max", "-o", "desc"],
    ["blocks", "-j", "--session-length", "3", "--machine", "laptop", "-t", "50000"],
]


@pytest.mark.parametrize("argv", SAME, ids=[" ".join(a) for a in SAME])
def test_the_fast_path_prints_the_typer_commands_bytes(
    home: Path, argv: list[str], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    typer_out = CliRunner().invoke(app, argv)
    assert typer_out.exit_code == 0, typer_out.output
    assert fastreport.answer(argv)
    fast = capsysbinary.readouterr().out
    if argv[0] == "blocks":  # the active block's projection moves with the clock
        assert fast.count(b'"startTime"') == typer_out.stdout_bytes.count(b'"startTime"') > 0
    else:
        assert fast == typer_out.stdout_bytes


LEFT_TO_TYPER = [
    ["daily"],  # a table
    ["daily", "--json", "--help"],
    ["daily", "--json", "--frobnicate"],
    ["daily", "--json", "--since"],  # no value
    ["daily", "--json", "--since", "--until", "2026-09-01"],
    ["daily", "--json", "-z=UTC"],  # click reads the value "=UTC"
    ["daily", "--json", "--json"],
    ["session", "--json", "--order", "desc"],  # session has no --order
    ["tools", "--json"],
    ["weekly", "--json=yes"],
]


@pytest.mark.parametrize("argv", LEFT_TO_TYPER, ids=[" ".join(a) for a in LEFT_TO_TYPER])
def test_what_the_fast_path_does_not_fully_understand_goes_to_typer(argv: list[str]) -> None:
    assert fastreport.parse(argv) is None


REFUSED = [
    ["daily", "--json", "-z", "Mars/Base"],
    ["session", "--json", "--limit", "0"],
    ["session", "--json", "--limit", "many"],
    ["blocks", "--json", "-t", "lots"],
    ["blocks", "--json", "-n", "0"],
    ["weekly", "--json", "-w", "someday"],
]


@pytest.mark.parametrize("argv", REFUSED, ids=[" ".join(a) for a in REFUSED])
def test_a_bad_value_is_left_for_typer_to_refuse(
    home: Path, argv: list[str], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert fastreport.parse(argv) is not None
    assert not fastreport.answer(argv)
    assert capsysbinary.readouterr().out == b""


def test_no_read_model_is_left_for_typer_to_explain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USAGECTL_HOME", str(tmp_path / "empty"))
    assert not fastreport.answer(["daily", "--json"])


def test_the_console_script_answers_json_without_importing_typer_or_the_bus(home: Path) -> None:
    code = (
        "import sys; from usagectl.cli.entry import main; main(); "
        "print(sorted(m for m in ('typer', 'rich', 'nats', 'click') if m in sys.modules), "
        "file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "daily", "--json"],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"daily"' in done.stdout
    assert done.stderr.strip() == "[]"
