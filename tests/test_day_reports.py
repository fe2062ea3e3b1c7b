"""Period reports read hourly rollups and only cut hours as 15-minute buckets: every zone, date
range and filter must give exactly what grouping every 15-minute bucket by its local date gives
(the reference: ``group_rollups`` over ``rollup_rows``). And a read model written by schema 1
upgrades itself in place on first use, to the same answers."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from random import Random
from zoneinfo import ZoneInfo

import msgspec
import pytest
from usagectl.processors import readmodel
from usagectl.processors.app.queries import UsageQuery
from usagectl.processors.app.usage_reports import KEY_NAMES, period_report
from usagectl.processors.readmodel import Filters
from usagectl.processors.store import apply_batch, open_store
from usagectl.processors.zonestore import add_zones
from usagectl.projections.events import Source, Usage
from usagectl.projections.reports import group_rollups, period_of, totals_json
from usagectl.projections.zonedays import segments, split_hours

# Whole-hour zones with and without DST, half- and quarter-hour offsets, a 30-minute DST shift
# (Lord Howe), a zone across the date line, and one whose DST starts at midnight (Havana).
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu",
         "Australia/Lord_Howe", "Pacific/Chatham", "America/St_Johns", "Pacific/Kiritimati",
         "America/Havana", "Australia/Adelaide"]  # fmt: skip
MODELS = ["claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001"]
PROJECTS = ["/work/app", "/work/lib", "/home/sam/café"]


def _corpus(n: int, seed: int) -> list[Usage]:
    """Responses spread over 14 months, thickest around each DST change and local midnight."""
    r = Random(seed)
    start = datetime(2025, 10, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        at = start + timedelta(seconds=r.randrange(14 * 30 * 86_400))
        if r.random() < 0.4:  # near a midnight somewhere: every quarter-hour of the day matters
            at = at.replace(hour=r.choice((10, 11, 12, 13, 14, 15, 18, 19, 23, 0, 4, 5)))
        out.append(
            Usage(
                event_id=f"e{i}",
                ts=at,
                machine=r.choice(("desk", "laptop")),
                account="default",
                project=r.choice(PROJECTS),
                project_dir="-work-app",
                session_id=f"s{i % 40}",
                source=Source("/x.jsonl", i),
                message_id=f"m{i}",
                request_id=f"r{i}",
                model=r.choice(MODELS),
                input=r.randint(1, 5_000),
                output=r.randint(1, 2_000),
                cache_read=r.randint(0, 90_000),
                cache_write_5m=r.randint(0, 9_000),
            )
        )
    return out


def _better_copies(usages: list[Usage], seed: int) -> list[Usage]:
    """Later, larger copies of every seventh response, hours away from the first: each moves
    its response to another bucket (often another day), so day rows lose entries too."""
    r = Random(seed)
    return [
        msgspec.structs.replace(
            u,
            event_id=u.event_id + "-again",
            output=u.output + 1_000,
            ts=u.ts + timedelta(hours=r.choice((-30, -5, 2, 9, 26))),
        )
        for u in usages[::7]
    ]


# Zones whose day rows the processor keeps from the start, and zones added afterwards (their
# rows are filled from the 15-minute rollups).
KEPT_FIRST = ["UTC", "Asia/Kathmandu", "America/New_York", "America/Havana"]
KEPT_LATER = ["Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kolkata"]


async def _write(db_path: Path, usages: list[Usage]) -> None:
    db = await open_store(db_path)
    try:
        await add_zones(db, KEPT_FIRST)
        for i in range(0, len(usages), 500):  # several batches: hour rows are upserted
            await apply_batch(db, "processor", usages[i : i + 500], i + 1)
        await add_zones(db, KEPT_LATER)
    finally:
        await db.close()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("days") / "usage.db"
    first = _corpus(6_000, 11)
    asyncio.run(_write(path, first + _better_copies(first, 12)))
    return path


def _reference(conn: sqlite3.Connection, kind: str, p: UsageQuery) -> dict[str, object]:
    rows = readmodel.rollup_rows(conn, Filters(machine=p.machine, project=p.project))
    key_of = period_of(kind, p.start_of_week or "sunday")
    periods = group_rollups(rows, p.timezone, key_of, p.mode, p.since, p.until)
    return {kind: [x.json(KEY_NAMES[kind]) for x in periods], "totals": totals_json(periods)}


def _queries(r: Random) -> list[UsageQuery]:
    out = []
    for zone in ZONES:
        for _ in range(3):
            since = date(2025, 10, 1) + timedelta(days=r.randrange(400))
            until = since + timedelta(days=r.choice((0, 1, 6, 40, 200)))
            out.append(
                UsageQuery(
                    timezone=ZoneInfo(zone),
                    since=r.choice((None, since)),
                    until=r.choice((None, until)),
                    machine=r.choice((None, "desk")),
                    project=r.choice((None, None, "lib")),
                    mode=r.choice(("auto", "calculate")),
                    start_of_week=r.choice(("sunday", "monday")),
                )
            )
    return out


@pytest.mark.parametrize("kind", ["daily", "weekly", "monthly"])
def test_every_zone_range_and_filter_matches_the_15_minute_reference(
    model_path: Path, kind: str
) -> None:
    with readmodel.open_read(model_path) as conn:
        for p in _queries(Random(kind)):
            assert period_report(conn, kind, p) == _reference(conn, kind, p), p


def test_the_whole_history_report_reads_hour_rows_not_buckets(model_path: Path) -> None:
    """A whole-hour zone reads 15-minute buckets only where an offset change cuts an hour (none
    for UTC or New York, whose changes fall on the hour); a +5:30 zone one hour a day."""
    for zone, most in (("UTC", 0), ("America/New_York", 8), ("Asia/Kolkata", 500 * 4)):
        tz = ZoneInfo(zone)
        start = int(datetime(2025, 10, 1, tzinfo=UTC).timestamp())
        cut = set()
        for seg in segments(tz, start, start + 430 * 86_400):
            cut.update(split_hours(seg))
        assert len(cut) * 4 <= most, (zone, len(cut))


def test_a_schema_1_read_model_upgrades_in_place_on_the_first_report(
    tmp_path: Path, model_path: Path
) -> None:
    old = tmp_path / "usage.db"
    old.write_bytes(model_path.read_bytes())
    with sqlite3.connect(old) as conn:  # what version 1 wrote: no hourly table
        conn.execute("DROP TABLE rollup_hour")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    p = UsageQuery(timezone=ZoneInfo("Asia/Kathmandu"))
    with readmodel.open_read(old) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            "2",
        )
        upgraded = period_report(conn, "daily", p)
    with readmodel.open_read(model_path) as conn:
        assert upgraded == period_report(conn, "daily", p)
        assert upgraded == _reference(conn, "daily", p)


def test_a_schema_1_read_model_upgrades_when_the_processor_opens_it(
    tmp_path: Path, model_path: Path
) -> None:
    old = tmp_path / "usage.db"
    old.write_bytes(model_path.read_bytes())
    with sqlite3.connect(old) as conn:
        expected = conn.execute("SELECT * FROM rollup_hour ORDER BY 1, 2, 3, 4, 5").fetchall()
        conn.execute("DROP TABLE rollup_hour")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")

    async def reopen() -> None:
        db = await open_store(old)
        await db.close()

    asyncio.run(reopen())
    with sqlite3.connect(old) as conn:
        assert conn.execute("SELECT * FROM rollup_hour ORDER BY 1, 2, 3, 4, 5").fetchall() == (
            expected
        )


@pytest.mark.parametrize("zone", KEPT_FIRST + KEPT_LATER)
def test_a_kept_zones_day_rows_equal_the_15_minute_reference(model_path: Path, zone: str) -> None:
    """Day rows kept while copies replaced each other (moving entries between days and
    models' first buckets) or filled when the zone was added, against the reference."""
    with readmodel.open_read(model_path) as conn:
        kept = {r[0] for r in conn.execute("SELECT zone FROM report_zones")}
        assert zone in kept
        for since, until in ((None, None), (date(2026, 3, 1), date(2026, 4, 30))):
            for kind in ("daily", "weekly", "monthly"):
                p = UsageQuery(timezone=ZoneInfo(zone), since=since, until=until)
                assert period_report(conn, kind, p) == _reference(conn, kind, p), (kind, since)
