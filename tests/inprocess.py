"""A data directory for commands run in-process (typer's CliRunner or the JSON fast path):
temporary homes, no hub, no config or machine name inherited from the environment."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from usagectl.processors.store import apply_batch, open_store, refresh
from usagectl.projections.events import Usage

FIVE_H = 5 * 3_600_000


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


async def write_read_model(db_path: Path, usages: Sequence[Usage]) -> None:
    """A read model written by the store directly (one batch, blocks refreshed): no hub."""
    db = await open_store(db_path)
    try:
        await apply_batch(db, "processor", usages, len(usages))
        await refresh(db, FIVE_H)
    finally:
        await db.close()
