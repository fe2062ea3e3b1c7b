"""The read model's read side: synchronous queries for reports (no bus, no event loop)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from usagectl.projections.columns import SUM_COLUMNS

if TYPE_CHECKING:
    from usagectl.projections.blocks import Block
from .migrations import can_upgrade, stored_version, upgrade_in_place
from .schema import ACCOUNT_SCOPE, CONSUMER, MACHINE_SCOPE, SCHEMA_VERSION


class NoReadModel(Exception):
    """There is no read model yet: nothing has been synced on this data directory."""

    user_facing = True


@dataclass(frozen=True)
class Filters:
    account: str | None = None
    machine: str | None = None
    project: str | None = None


def open_read(db_path: Path) -> sqlite3.Connection:
    if not db_path.exists():
        raise NoReadModel(f"no read model at {db_path}: run `usagectl sync` first")
    conn = _connect_read(db_path)
    try:
        conn.execute("SELECT 1 FROM tracking LIMIT 1")
        version = stored_version(conn)
    except sqlite3.DatabaseError as err:
        conn.close()
        if type(err) is sqlite3.DatabaseError:  # damaged: the stream still has everything
            raise NoReadModel(
                f"the read model {db_path} is damaged ({err}): run `usagectl "
                "replay` to rebuild it from the stream"
            ) from err
        raise NoReadModel(f"{db_path} is not a usagectl read model: {err}") from err
    if version is not None and version < SCHEMA_VERSION and can_upgrade(version):
        conn.close()  # the first report after an upgrade of usagectl brings the file forward
        try:
            upgrade_in_place(db_path)
        except sqlite3.OperationalError as err:
            raise NoReadModel(
                f"the read model {db_path} is from an older usagectl and cannot be upgraded "
                f"here ({err}): run `usagectl sync`"
            ) from err
        conn = _connect_read(db_path)
    return conn


def _connect_read(db_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)


def _encoded(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", path)


def names_project(project: str, wanted: str) -> bool:
    """A project may be named by its path, its folder name, or Claude Code's encoded folder."""
    return wanted in (project, PurePath(project).name, _encoded(project))


def matching_projects(conn: sqlite3.Connection, wanted: str) -> list[str]:
    projects = [r[0] for r in conn.execute("SELECT DISTINCT project FROM session_span")]
    # usage_totals has every project with usage in a few hundred rows (rollup has them per bucket)
    projects += [r[0] for r in conn.execute("SELECT DISTINCT project FROM usage_totals")]
    # A folder the host chose (CLAUDE_CODE_PROJECT_DIR_NAME) names the projects written in it.
    chosen = conn.execute(
        "SELECT DISTINCT project FROM session_span WHERE project_dir = ?", (wanted,)
    )
    return sorted({p for p in projects if names_project(p, wanted)} | {r[0] for r in chosen})


def where_clause(conn: sqlite3.Connection, f: Filters, alias: str = "") -> tuple[str, list[Any]]:
    clauses, params = ["1"], []
    if f.account:
        clauses.append(f"{alias}account = ?")
        params.append(f.account)
    if f.machine:
        clauses.append(f"{alias}machine = ?")
        params.append(f.machine)
    if f.project:
        names = matching_projects(conn, f.project)
        clauses.append(f"{alias}project IN ({', '.join('?' * len(names))})")
        params.extend(names)
    return " AND ".join(clauses), params


def rollup_rows(
    conn: sqlite3.Connection, f: Filters, from_bucket: int | None = None
) -> Iterator[tuple[int, str, tuple[int, ...]]]:
    where, params = where_clause(conn, f)
    if from_bucket is not None:
        where += " AND bucket >= ?"
        params.append(from_bucket)
    sums = ", ".join(f"sum({c})" for c in SUM_COLUMNS)
    sql = f"SELECT bucket, model, {sums} FROM rollup WHERE {where} GROUP BY bucket, model"
    for row in conn.execute(sql, params):
        yield row[0], row[1], tuple(row[2:])


@dataclass(frozen=True)
class SessionRow:
    project_dir: str
    session_id: str
    first_ms: int
    last_ms: int
    machine: str
    project: str
    model: str
    sums: tuple[int, ...]


def session_rows(conn: sqlite3.Connection, f: Filters) -> Iterator[SessionRow]:
    sums = ", ".join(f"u.{c}" for c in SUM_COLUMNS)
    where, params = where_clause(conn, Filters(machine=f.machine, project=f.project), "s.")
    sql = (
        f"SELECT s.project_dir, s.session_id, s.first_ms, s.last_ms, s.machine, s.project, "
        f"u.model, {sums} FROM session_span s JOIN session_usage u "
        f"ON u.project_dir = s.project_dir AND u.session_id = s.session_id WHERE {where}"
    )
    for r in conn.execute(sql, params):
        project_dir, session_id, first_ms, last_ms, machine, project, model = r[:7]
        yield SessionRow(
            project_dir, session_id, first_ms, last_ms, machine, project, model, tuple(r[7:])
        )


def blocks(
    conn: sqlite3.Connection, account: str, machine: str | None, length_ms: int
) -> list[Block]:
    from .blockstore import read_blocks  # here: a period report never pays for blocks

    scope = (MACHINE_SCOPE, account, machine) if machine else (ACCOUNT_SCOPE, account, "")
    return read_blocks(conn, scope, length_ms)


def accounts(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT DISTINCT account FROM usage_totals ORDER BY account")
    return [r[0] for r in rows]


def applied_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT stream_seq FROM tracking WHERE consumer = ?", (CONSUMER,)).fetchone()
    return int(row[0]) if row else 0


def ledger_counts(conn: sqlite3.Connection) -> tuple[int, int]:
    """Distinct responses counted, and copies set aside as replays."""
    row = conn.execute("SELECT sum(counted), sum(NOT counted) FROM ledger").fetchone()
    return int(row[0] or 0), int(row[1] or 0)


def unpriced_models(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Models whose responses have no price: their cost is in no total (never shown as $0)."""
    rows = conn.execute(
        "SELECT model, sum(unpriced), sum(input + output + cache_write_5m + cache_write_1h + "
        "cache_read) FROM session_usage GROUP BY model HAVING sum(unpriced) > 0 ORDER BY model"
    )
    return [{"model": m, "entries": int(n), "totalTokens": int(t)} for m, n, t in rows]


def tokens_by_machine(
    conn: sqlite3.Connection, account: str, from_ms: int, to_ms: int
) -> dict[str, int]:
    """Our counted tokens per machine in [from_ms, to_ms]: the shares that split the official
    account-wide percentage."""
    rows = conn.execute(
        "SELECT machine, sum(input + output + cache_write_5m + cache_write_1h + cache_read) "
        "FROM ledger WHERE counted AND account = ? AND ts_ms >= ? AND ts_ms <= ? "
        "GROUP BY machine",
        (account, from_ms, to_ms),
    )
    return {str(m): int(t or 0) for m, t in rows}


def official_limits(
    conn: sqlite3.Connection, account: str, now_ms: int, length_ms: int
) -> dict[str, Any] | None:
    """``blocks --json``'s ``limits``: the latest official figures, and the 5-hour one split
    by machine over the account's active block; None while Claude Code has sent none."""
    from usagectl.projections.blocks import is_active
    from usagectl.projections.limits import limits_json

    from .blockstore import read_blocks
    from .limitstore import read_limits

    official = read_limits(conn, account)
    if not official:
        return None
    recent = read_blocks(conn, (ACCOUNT_SCOPE, account, ""), length_ms, now_ms - length_ms)
    active = [b for b in recent if is_active(b, now_ms, length_ms)]
    shares = None
    if active and active[-1].first_ms is not None and active[-1].last_ms is not None:
        shares = tokens_by_machine(conn, account, active[-1].first_ms, active[-1].last_ms)
    return limits_json(account, official, shares, now_ms)
