"""One transaction per unit of work, with a rollback that never hides the first error."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiosqlite


async def rollback(db: aiosqlite.Connection) -> None:
    """Undo a failed unit; a failed COMMIT (disk full) may already have rolled back."""
    with contextlib.suppress(sqlite3.OperationalError):
        await db.execute("ROLLBACK")
