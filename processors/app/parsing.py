"""What a user typed (a CLI option or an HTTP query parameter) parsed once, into frozen typed
queries the report builders take. The CLI names a value by its option (``--since``), the HTTP face
by its parameter (``since``); the checks and the words of a refusal are the same.

Each HTTP parameter is declared once (Param): the declaration drives the checks here and the
OpenAPI description of the web face, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from usagectl.projections.reports import COST_INDEX, WEEKDAYS

from .errors import UserError
from .zones import local_zone


class QueryError(UserError):
    """A value the user gave that cannot be used; ``message`` is the whole story (HTTP: 400)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def zone(name: str | None, flag: str = "--timezone") -> ZoneInfo:
    """An IANA zone; none (or ``local``) is this machine's zone."""
    if name is None or name == "local":
        return local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise QueryError(f"invalid {flag} {name!r}: not an IANA time zone") from err


def parse_day(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise QueryError(f"invalid {flag} {value!r}: use YYYY-MM-DD or YYYYMMDD")


def day_range(since: str | None, until: str | None) -> tuple[date | None, date | None]:
    """--since and --until; a range that ends before it starts is a mistake, not an empty
    report."""
    first, last = parse_day(since, "--since"), parse_day(until, "--until")
    if first and last and first > last:
        raise QueryError(f"invalid range: --since {first} is after --until {last}")
    return first, last


def check_choice(value: str, choices: tuple[str, ...], flag: str) -> str:
    if value not in choices:
        raise QueryError(f"invalid {flag} {value!r}: choose one of {', '.join(choices)}")
    return value


EXPORT_FORMATS = ("csv", "json", "jsonl")
EXPORT_BY = ("day", "session", "model", "project", "machine")
MAX_VALUE = 256  # no legitimate value is longer; longer ones never reach a query


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # string | date | zone | bool | choice | int | number
    help: str
    choices: tuple[str, ...] = ()
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None

    def schema(self) -> dict[str, Any]:
        """This parameter as an OpenAPI schema."""
        kinds: dict[str, dict[str, Any]] = {
            "string": {"type": "string"},
            "zone": {"type": "string", "example": "Europe/Berlin"},
            "date": {"type": "string", "pattern": r"^\d{4}-?\d{2}-?\d{2}$"},
            "bool": {"type": "boolean"},
            "choice": {"type": "string", "enum": list(self.choices)},
            "int": {"type": "integer"},
            "number": {"type": "number"},
        }
        base = kinds[self.kind]
        if self.default is not None:
            base["default"] = self.default
        if self.minimum is not None:
            base["minimum"] = self.minimum
        if self.maximum is not None:
            base["maximum"] = self.maximum
        return base


def _number(p: Param, value: str) -> float:
    try:
        n = int(value) if p.kind == "int" else float(value)
    except ValueError as err:
        wanted = "an integer" if p.kind == "int" else "a number"
        raise QueryError(f"invalid {p.name} {value!r}: not {wanted}") from err
    if n != n or n in (float("inf"), float("-inf")):
        raise QueryError(f"invalid {p.name} {value!r}: not a finite number")
    if p.minimum is not None and n < p.minimum:
        raise QueryError(f"invalid {p.name} {value!r}: must be at least {p.minimum:g}")
    if p.maximum is not None and n > p.maximum:
        raise QueryError(f"invalid {p.name} {value!r}: must be at most {p.maximum:g}")
    return n


def _convert(p: Param, value: str) -> Any:
    if p.kind == "string":
        if not value:
            raise QueryError(f"invalid {p.name}: empty")
        return value
    if p.kind == "zone":
        return zone(value, p.name)
    if p.kind == "date":
        return parse_day(value, p.name)
    if p.kind == "bool":
        if value.lower() in ("1", "true", "yes", "on", ""):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise QueryError(f"invalid {p.name} {value!r}: use true or false")
    if p.kind == "choice":
        return check_choice(value, p.choices, p.name)
    return _number(p, value)


def parse(items: Iterable[tuple[str, str]], spec: tuple[Param, ...]) -> dict[str, Any]:
    """Query items (name, value) against ``spec``: every declared name with its value or its
    default (a zone defaults to the server's local zone, as the CLI)."""
    known = {p.name: p for p in spec}
    raw: dict[str, str] = {}
    for name, value in items:
        if name not in known:
            allowed = ", ".join(sorted(known)) or "none"
            raise QueryError(f"unknown parameter {name[:40]!r} (allowed: {allowed})")
        if name in raw:
            raise QueryError(f"parameter {name!r} given more than once")
        if len(value) > MAX_VALUE:
            raise QueryError(f"parameter {name!r} is longer than {MAX_VALUE} characters")
        if "\x00" in value:
            raise QueryError(f"parameter {name!r} contains a NUL character")
        raw[name] = value
    out: dict[str, Any] = {}
    for p in spec:
        if p.name in raw:
            out[p.name] = _convert(p, raw[p.name])
        elif p.kind == "zone":
            out[p.name] = zone(p.default or "local", p.name)
        else:
            out[p.name] = p.default
    return out


# The CLI's filters, with the CLI's option names (without the dashes, `-` as `_`).
TIMEZONE = Param("timezone", "zone", "IANA zone for local days (default: the server's zone)")
SINCE = Param("since", "date", "first local day, YYYY-MM-DD or YYYYMMDD")
UNTIL = Param("until", "date", "last local day, YYYY-MM-DD or YYYYMMDD")
MACHINE = Param("machine", "string", "only this machine")
PROJECT = Param("project", "string", "only this project: its path, folder name or encoded folder")
MODE = Param("mode", "choice", "cost mode", tuple(COST_INDEX), "auto")
ORDER = Param("order", "choice", "row order", ("asc", "desc"), "asc")
START_OF_WEEK = Param("start_of_week", "choice", "first day of a week", WEEKDAYS, "sunday")
SESSION = Param("session", "string", "only this session id")

PERIOD = (TIMEZONE, SINCE, UNTIL, MACHINE, PROJECT, MODE, ORDER)
WEEKLY = (*PERIOD, START_OF_WEEK)
SESSIONS = (TIMEZONE, SINCE, UNTIL, MACHINE, PROJECT, MODE)
BLOCKS = (
    TIMEZONE,
    SINCE,
    UNTIL,
    MACHINE,
    MODE,
    ORDER,
    Param("active", "bool", "only the active block", default=False),
    Param("recent", "bool", "only blocks of the last 3 days", default=False),
    Param("token_limit", "string", "a number of tokens, or max (the largest past block)"),
    Param(
        "session_length",
        "number",
        "block length in hours",
        default=5.0,
        minimum=0.01,
        maximum=24 * 7,
    ),
)
TOOLS = (TIMEZONE, SINCE, UNTIL, MACHINE, PROJECT, SESSION)
PLANS = (PROJECT,)
ALERTS = (
    Param("limit", "int", "at most this many, newest first", default=50, minimum=1, maximum=1000),
)
TRENDS = (
    TIMEZONE,
    MACHINE,
    PROJECT,
    MODE,
    Param(
        "days",
        "int",
        "window: this many local days ending today",
        default=30,
        minimum=1,
        maximum=3660,
    ),
    Param("day", "date", "also the hourly distribution of this local day"),
)
EXPORT = (
    Param("format", "choice", "file format", EXPORT_FORMATS, "csv"),
    Param("by", "choice", "one row per", EXPORT_BY, "day"),
    Param("from", "date", "first local day, YYYY-MM-DD or YYYYMMDD"),
    Param("to", "date", "last local day, YYYY-MM-DD or YYYYMMDD"),
    TIMEZONE,
    MACHINE,
    PROJECT,
    MODE,
)
DASHBOARD = (
    TIMEZONE,
    START_OF_WEEK,
    Param(
        "after",
        "int",
        "answer once the read model has applied this stream sequence (waits up to a few seconds)",
        minimum=0,
    ),
)
EVENTS = (
    Param(
        "since",
        "int",
        "resume after this stream sequence (the Last-Event-ID header wins)",
        minimum=0,
    ),
)


def token_limit(value: str | None) -> str | None:
    """``blocks``' token limit: a positive number of tokens or ``max``, as the CLI takes it."""
    if value is None or value == "max":
        return value
    if not value.isdigit() or int(value) <= 0:
        raise QueryError(f"invalid token_limit {value!r}: a positive number of tokens or 'max'")
    return value
