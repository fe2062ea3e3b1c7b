"""A data directory for commands run in-process (typer's CliRunner or the JSON fast path):
temporary homes, no hub, no config or machine name inherited from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest


def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: str) -> Path:
    home = tmp_path / "home"
    variables = {
        "USAGECTL_HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(tmp_path / "c"),
        "HOME": str(tmp_path),
        "TZ": "UTC",
    } | extra
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    for name in ("USAGECTL_CONFIG", "USAGECTL_NATS_URL", "USAGECTL_MACHINE"):
        monkeypatch.delenv(name, raising=False)
    home.mkdir()
    return home
