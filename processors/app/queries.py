"""Parsing what a user typed (a CLI option or a query parameter) into typed values: one
parser for dates, zones and choices, so a bad value reads the same everywhere."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import UserError
from .zones import local_zone


def zone(name: str | None) -> ZoneInfo:
    if name is None or name == "local":
        return local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise UserError(f"invalid --timezone {name!r}: not an IANA time zone") from err


def parse_day(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise UserError(f"invalid {flag} {value!r}: use YYYY-MM-DD or YYYYMMDD")


def day_range(since: str | None, until: str | None) -> tuple[date | None, date | None]:
    """--since and --until; a range that ends before it starts is a mistake, not an empty
    report."""
    first, last = parse_day(since, "--since"), parse_day(until, "--until")
    if first and last and first > last:
        raise UserError(f"invalid range: --since {first} is after --until {last}")
    return first, last


def check_choice(value: str, choices: tuple[str, ...], flag: str) -> str:
    if value not in choices:
        raise UserError(f"invalid {flag} {value!r}: choose one of {', '.join(choices)}")
    return value
