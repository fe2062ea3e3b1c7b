"""Per-zone day rollups (``rollup_zone_day``): written in the batch's transaction for every zone
in ``report_zones``, and filled from the 15-minute rollups when a zone is added, so a zone's
rows are complete from the moment it is listed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from zoneinfo import ZoneInfo

import aiosqlite
from usagectl.projections.columns import SUM_COLUMNS
from usagectl.projections.rollups import Deltas
from usagectl.projections.zonedays import day_number, local_day, local_midnight, zone_day_deltas

from .transactions import rollback

# A first bucket no real one reaches: a row that only lost entries is looked at again below.
_NONE = 1 << 62
_MARGIN_S = 3 * 3600
_COLS = ("zone", "day", "model", *SUM_COLUMNS, "first_bucket")
_UPSERT = (
    f"INSERT INTO rollup_zone_day ({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))}) "
    "ON CONFLICT (zone, day, model) DO UPDATE SET "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in SUM_COLUMNS)
    + ", first_bucket = min(first_bucket, excluded.first_bucket)"
)


async def report_zones(db: aiosqlite.Connection) -> list[str]:
    async with db.execute("SELECT zone FROM report_zones ORDER BY zone") as cur:
        return [str(r[0]) for r in await cur.fetchall()]


async def write_zone_days(db: aiosqlite.Connection, d: Deltas, zones: Iterable[str]) -> None:
    """Inside the batch's transaction, after the 15-minute rollups are written."""
    for zone in zones:
        tz = ZoneInfo(zone)
        rows = zone_day_deltas(d.models, tz)
        params = [
            (zone, day, model, *sums, _NONE if first is None else first)
            for (day, model), (sums, first) in rows.items()
        ]
        await db.executemany(_UPSERT, params)
        cache: dict[int, int] = {}
        left = {(day_number(bucket, tz, cache), model) for bucket, model in d.left}
        for day, model in sorted(left):
            await _first_again(db, zone, tz, day, model)
        await db.execute("DELETE FROM rollup_zone_day WHERE zone = ? AND entries = 0", (zone,))


async def _first_again(
    db: aiosqlite.Connection, zone: str, tz: ZoneInfo, day: int, model: str
) -> None:
    """A (day, model) that lost entries: its first bucket, from the 15-minute rollups. The
    buckets are read with a margin around the day's midnights (a midnight that DST skips has
    no exact instant) and each is placed by the same rule as everywhere: its start's date."""
    start = local_midnight(local_day(day), tz) - _MARGIN_S
    end = local_midnight(local_day(day) + timedelta(days=1), tz) + _MARGIN_S
    cache: dict[int, int] = {}
    async with db.execute(
        "SELECT DISTINCT bucket FROM rollup WHERE bucket >= ? AND bucket < ? AND model = ? "
        "ORDER BY bucket",
        (start, end, model),
    ) as cur:
        buckets = [int(r[0]) for r in await cur.fetchall()]
    first = next((b for b in buckets if day_number(b, tz, cache) == day), None)
    if first is not None:
        await db.execute(
            "UPDATE rollup_zone_day SET first_bucket = ? WHERE zone = ? AND day = ? AND model = ?",
            (first, zone, day, model),
        )


async def add_zones(db: aiosqlite.Connection, zones: Iterable[str]) -> None:
    """List each zone not yet listed, with its rows built from every 15-minute rollup, in one
    transaction (a zone is listed only once its rows are complete)."""
    missing = sorted(set(zones) - set(await report_zones(db)))
    if not missing:
        return
    sums = ", ".join(f"sum({c})" for c in SUM_COLUMNS)
    await db.execute("BEGIN IMMEDIATE")
    try:
        async with db.execute(
            f"SELECT bucket, model, {sums} FROM rollup GROUP BY bucket, model"
        ) as cur:
            models = {(b, m): list(rest) for b, m, *rest in await cur.fetchall()}
        for zone in missing:
            d = Deltas(models=models)
            await write_zone_days(db, d, [zone])
            await db.execute("INSERT INTO report_zones (zone) VALUES (?)", (zone,))
        await db.execute("COMMIT")
    except BaseException:
        await rollback(db)
        raise
