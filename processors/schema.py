"""The read model's SQLite schema: the one place that names its tables and columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from usagectl.projections.columns import QUARTER_COLUMNS, SUM_COLUMNS

if TYPE_CHECKING:
    from usagectl.projections.ledger import Entry

# Bump when a projection changes what it stores, with a step in ``migrations`` that brings the
# previous version's file forward in place; a version no step reaches asks for a replay.
SCHEMA_VERSION = 2

LEDGER_COLUMNS = (
    "key",
    "message_id",
    "event_id",
    "ts_ms",
    "account",
    "machine",
    "project",
    "project_dir",
    "session_id",
    "model",
    "is_sidechain",
    "has_speed",
    "input",
    "output",
    "cache_write_5m",
    "cache_write_1h",
    "cache_read",
    "cost_calculated",
    "reported_cost",
    "source_path",
    "source_offset",
)


def entry_from_row(row: Any) -> Entry:
    """A ledger row (LEDGER_COLUMNS order) as the fold's Entry."""
    from usagectl.projections.ledger import Entry  # only the writer needs it; reports do not

    fields = dict(zip(LEDGER_COLUMNS, row, strict=True))
    fields["is_sidechain"] = bool(fields["is_sidechain"])
    fields["has_speed"] = bool(fields["has_speed"])
    return Entry(**fields)


# The request id inside a transcript copy's key ``m:<message id>\x1f<request id>``: an index on
# it finds the transcript copy of a request an OpenTelemetry event reported. It is made when the
# first OpenTelemetry event arrives, not before: on every other read model it would cost a third
# of each response's insert (a random B-tree over an expression) and serve no lookup.
REQUEST_OF_KEY = "substr(key, instr(key, char(31)) + 1)"
REQUEST_INDEX = (
    f"CREATE INDEX IF NOT EXISTS ledger_request ON ledger ({REQUEST_OF_KEY}) "
    "WHERE message_id IS NOT NULL"
)

_SUMS = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in SUM_COLUMNS)
_QUARTERS = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in QUARTER_COLUMNS)

ROLLUP_HOUR = f"""CREATE TABLE IF NOT EXISTS rollup_hour (
    hour INTEGER NOT NULL, account TEXT NOT NULL, machine TEXT NOT NULL,
    project TEXT NOT NULL, model TEXT NOT NULL, {_SUMS}, {_QUARTERS},
    PRIMARY KEY (hour, account, machine, project, model)
) WITHOUT ROWID"""

# Day rows of the zones reports use most (UTC and the processor's own), without the machine and
# project columns: an unfiltered year of `daily` reads a year of days, not of hours.
# ``report_zones`` lists the zones whose rows are complete.
REPORT_ZONES = "CREATE TABLE IF NOT EXISTS report_zones (zone TEXT PRIMARY KEY) WITHOUT ROWID"
ROLLUP_ZONE_DAY = f"""CREATE TABLE IF NOT EXISTS rollup_zone_day (
    zone TEXT NOT NULL, day INTEGER NOT NULL, model TEXT NOT NULL, {_SUMS},
    first_bucket INTEGER NOT NULL, PRIMARY KEY (zone, day, model)
) WITHOUT ROWID"""

# One transaction: a report that opens the file while the processor creates it sees every table
# or none (`tracking` is what a reader checks for).
DDL = f"""
PRAGMA journal_mode = WAL;
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tracking (
    consumer TEXT PRIMARY KEY, stream_seq INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    stream_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS ledger (
    key TEXT PRIMARY KEY, message_id TEXT, event_id TEXT NOT NULL, ts_ms INTEGER NOT NULL,
    account TEXT NOT NULL, machine TEXT NOT NULL, project TEXT NOT NULL,
    project_dir TEXT NOT NULL, session_id TEXT NOT NULL, model TEXT NOT NULL,
    is_sidechain INTEGER NOT NULL, has_speed INTEGER NOT NULL,
    input INTEGER NOT NULL, output INTEGER NOT NULL, cache_write_5m INTEGER NOT NULL,
    cache_write_1h INTEGER NOT NULL, cache_read INTEGER NOT NULL,
    cost_calculated REAL, reported_cost REAL, source_path TEXT NOT NULL,
    source_offset INTEGER NOT NULL, counted INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_message ON ledger (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS ledger_account_ts ON ledger (account, ts_ms) WHERE counted;
CREATE INDEX IF NOT EXISTS ledger_machine_ts ON ledger (account, machine, ts_ms) WHERE counted;
CREATE INDEX IF NOT EXISTS ledger_session ON ledger (project_dir, session_id) WHERE counted;
CREATE TABLE IF NOT EXISTS rollup (
    bucket INTEGER NOT NULL, account TEXT NOT NULL, machine TEXT NOT NULL,
    project TEXT NOT NULL, model TEXT NOT NULL, {_SUMS},
    PRIMARY KEY (bucket, account, machine, project, model)
) WITHOUT ROWID;
{ROLLUP_HOUR};
{REPORT_ZONES};
{ROLLUP_ZONE_DAY};
CREATE TABLE IF NOT EXISTS usage_totals (
    account TEXT NOT NULL, machine TEXT NOT NULL, project TEXT NOT NULL, model TEXT NOT NULL,
    {_SUMS}, PRIMARY KEY (account, machine, project, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS session_usage (
    project_dir TEXT NOT NULL, session_id TEXT NOT NULL, model TEXT NOT NULL, {_SUMS},
    PRIMARY KEY (project_dir, session_id, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS session_span (
    project_dir TEXT NOT NULL, session_id TEXT NOT NULL, first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL, machine TEXT NOT NULL, project TEXT NOT NULL,
    PRIMARY KEY (project_dir, session_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks (
    scope TEXT NOT NULL, account TEXT NOT NULL, machine TEXT NOT NULL,
    start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, is_gap INTEGER NOT NULL,
    first_ms INTEGER, last_ms INTEGER, entries INTEGER NOT NULL,
    input INTEGER NOT NULL, output INTEGER NOT NULL, cache_create INTEGER NOT NULL,
    cache_read INTEGER NOT NULL, cost_auto INTEGER NOT NULL, cost_calculated INTEGER NOT NULL,
    cost_display INTEGER NOT NULL, models TEXT NOT NULL,
    PRIMARY KEY (scope, account, machine, start_ms, is_gap)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS limits (
    scope TEXT NOT NULL, account TEXT NOT NULL, machine TEXT NOT NULL, session_id TEXT NOT NULL,
    kind TEXT NOT NULL, used_pct REAL NOT NULL, resets_ms INTEGER, ts_ms INTEGER NOT NULL,
    event_id TEXT NOT NULL, seen_machine TEXT NOT NULL, seen_session TEXT NOT NULL,
    PRIMARY KEY (scope, account, machine, session_id, kind)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS session_usage_id ON session_usage (session_id);
CREATE TABLE IF NOT EXISTS hook_seen (event_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hook_spans (
    span_id TEXT NOT NULL, kind TEXT NOT NULL, session_id TEXT NOT NULL, label TEXT NOT NULL,
    account TEXT NOT NULL, machine TEXT NOT NULL, project TEXT NOT NULL, ts_ms INTEGER NOT NULL,
    duration_ms REAL, outcome INTEGER, error_kind TEXT, state BLOB NOT NULL,
    PRIMARY KEY (span_id, kind, session_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hook_spans_ts ON hook_spans (kind, ts_ms);
CREATE TABLE IF NOT EXISTS session_hooks (
    session_id TEXT PRIMARY KEY, account TEXT NOT NULL, machine TEXT NOT NULL,
    project TEXT NOT NULL, first_ms INTEGER NOT NULL, first_id TEXT NOT NULL,
    last_ms INTEGER NOT NULL, events INTEGER NOT NULL, prompts INTEGER NOT NULL,
    tool_calls INTEGER NOT NULL, tool_failures INTEGER NOT NULL, subagents INTEGER NOT NULL,
    compactions INTEGER NOT NULL, end_ms INTEGER, end_id TEXT, end_reason TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plan_events (
    event_id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL, project TEXT NOT NULL, plan TEXT NOT NULL,
    kind TEXT NOT NULL, feature_id TEXT, status TEXT, pr_url TEXT, description TEXT,
    data TEXT NOT NULL, machine TEXT NOT NULL, account TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS plan_events_plan ON plan_events (project, plan);
CREATE TABLE IF NOT EXISTS plans (
    project TEXT NOT NULL, plan TEXT NOT NULL, machine TEXT NOT NULL, status TEXT NOT NULL,
    created_ms INTEGER, optimized_ms INTEGER, started_ms INTEGER, completed_ms INTEGER,
    pr_url TEXT, pr_ms INTEGER, PRIMARY KEY (project, plan)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plan_features (
    project TEXT NOT NULL, plan TEXT NOT NULL, feature_id TEXT NOT NULL, description TEXT,
    status TEXT NOT NULL, created_ms INTEGER, started_ms INTEGER, completed_ms INTEGER,
    failed_ms INTEGER, status_ms INTEGER, PRIMARY KEY (project, plan, feature_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS machines (
    machine TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL, version TEXT NOT NULL, roots TEXT NOT NULL,
    files INTEGER NOT NULL, lag_bytes INTEGER NOT NULL, rejected TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks_dirty (
    scope TEXT NOT NULL, account TEXT NOT NULL, machine TEXT NOT NULL, from_ms INTEGER NOT NULL,
    PRIMARY KEY (scope, account, machine)
) WITHOUT ROWID;
COMMIT;
"""

# The read model's cursor: the tracking row every processor run resumes from.
CONSUMER = "processor"

# The block scopes: the official window is account-wide; machines get their own view too.
ACCOUNT_SCOPE = "account"
MACHINE_SCOPE = "machine"
