"""Which hourly rollups fall wholly inside one local day of a zone, and which hours must be read
as their 15-minute buckets instead.

A 15-minute bucket belongs to the local date of its start. An hour row can stand for its four
buckets when all four starts share a local date: true for every hour of a zone whose offset is a
whole number of hours, and for all but the hour holding midnight in a zone at +5:30 or +5:45.
Around a change of offset (DST) the hours the change cuts are read as buckets too, so every zone
and every date is exact while a year of history costs a year of hour rows, not four times that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

HOUR = 3600
QUARTER = 900
DAY = 86_400
_LAST_QUARTER = HOUR - QUARTER  # the last bucket of an hour starts 45 minutes in
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Segment:
    """[start, end) in UTC seconds with one offset; hour rows in [first_hour, end_hour) whose
    four bucket starts share a local date are read whole."""

    start: int
    end: int
    offset: int

    @property
    def first_hour(self) -> int:
        return -(-self.start // HOUR) * HOUR

    @property
    def end_hour(self) -> int:
        """One past the last hour whose four buckets all start inside the segment."""
        return (self.end - _LAST_QUARTER - 1) // HOUR * HOUR + HOUR

    def whole_hour_limit(self) -> int:
        """Hour rows with ``(hour + offset) % DAY`` below this keep one local date."""
        return DAY - _LAST_QUARTER


def offset_at(t: int, tz: ZoneInfo) -> int:
    off = datetime.fromtimestamp(t, UTC).astimezone(tz).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def _change_after(lo: int, hi: int, tz: ZoneInfo) -> int:
    """The first second in (lo, hi] whose offset differs from lo's (one exists)."""
    before = offset_at(lo, tz)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if offset_at(mid, tz) == before:
            lo = mid
        else:
            hi = mid
    return hi


def segments(tz: ZoneInfo, start: int, end: int) -> list[Segment]:
    """[start, end) cut where the zone's offset changes. Offsets are sampled every 12 hours (no
    zone changes twice within 12 hours) and each change is found to the second."""
    out: list[Segment] = []
    seg_start, current = start, offset_at(start, tz)
    t = start
    while t < end:
        nxt = min(t + DAY // 2, end)
        if offset_at(nxt, tz) != current and nxt > t:
            change = _change_after(t, nxt, tz)
            if change < end:
                out.append(Segment(seg_start, change, current))
                seg_start, current = change, offset_at(change, tz)
        t = nxt
    out.append(Segment(seg_start, end, current))
    return out


def split_hours(seg: Segment) -> list[int]:
    """Hours touching the segment that its hour rows do not cover: the hours the segment's
    edges cut, and (for offsets that are not whole hours) each hour holding local midnight."""
    hours: set[int] = set()
    first, end_hour = seg.first_hour, seg.end_hour
    start_floor = seg.start // HOUR * HOUR
    hours.update(range(start_floor, min(first, seg.end), HOUR))
    hours.update(range(max(end_hour, start_floor), seg.end, HOUR))
    if seg.offset % HOUR:
        limit = seg.whole_hour_limit()
        midnight = (first + seg.offset) // DAY * DAY - seg.offset
        while midnight < end_hour + DAY:
            h = midnight // HOUR * HOUR
            if first <= h < end_hour and (h + seg.offset) % DAY >= limit:
                hours.add(h)
            midnight += DAY
    return sorted(hours)


def local_day(number: int) -> date:
    """A local day number (days since 1970-01-01 in the zone's own clock) as a date."""
    return EPOCH + timedelta(days=number)


def local_midnight(day: date, tz: ZoneInfo) -> int:
    """UTC seconds of ``day``'s first local moment."""
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def day_number(bucket: int, tz: ZoneInfo, cache: dict[int, int]) -> int:
    """The local day number of a 15-minute bucket's start (buckets repeat: cached)."""
    day = cache.get(bucket)
    if day is None:
        day = cache[bucket] = (bucket + offset_at(bucket, tz)) // DAY
    return day


ZoneDayKey = tuple[int, str]  # (local day number, model)


def zone_day_deltas(
    models: dict[tuple[int, str], list[int]], tz: ZoneInfo
) -> dict[ZoneDayKey, tuple[list[int], int | None]]:
    """(bucket, model) sums as one zone's (local day, model) sums, with the first bucket that
    gained entries (None if none did): a model's first use in a day can only move earlier by
    an addition; a removal asks the caller to look again."""
    cache: dict[int, int] = {}
    out: dict[ZoneDayKey, tuple[list[int], int | None]] = {}
    for (bucket, model), d in models.items():
        key = (day_number(bucket, tz, cache), model)
        first = bucket if d[0] > 0 else None
        have = out.get(key)
        if have is None:
            out[key] = (d.copy(), first)
            continue
        sums, seen = have
        earliest = first if seen is None else seen if first is None else min(seen, first)
        out[key] = ([a + b for a, b in zip(sums, d, strict=True)], earliest)
    return out
