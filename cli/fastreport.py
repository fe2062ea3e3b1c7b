"""``usagectl daily|weekly|monthly|session|blocks ... --json`` without typer or rich.

A script that polls a report pays for the whole process, and importing typer, rich and the
bus client costs several times what reading a year of hourly rollups does. These commands with
``--json`` are parsed here with the options ``cli/reports.py`` declares and answered by the same
builders; anything else (``--help``, a table, an option this parser does not know, a value it
refuses, no read model) goes to the typer app, which says what is wrong in its own words.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from usagectl.processors import readmodel
from usagectl.processors.app.errors import UserError
from usagectl.processors.app.settings import load_settings

from .report_queries import blocks_query, emit, usage_query

# (parameter, takes a value, its option names): typer's names in cli/reports.py.
Spec = tuple[str, bool, tuple[str, ...]]
_COMMON: tuple[Spec, ...] = (
    ("json", False, ("--json", "-j")),
    ("tz", True, ("--timezone", "-z")),
    ("since", True, ("--since", "-s")),
    ("until", True, ("--until", "-u")),
    ("machine", True, ("--machine",)),
    ("mode", True, ("--mode", "-m")),
    ("compact", False, ("--compact",)),
)
_BREAKDOWN: Spec = ("breakdown", False, ("--breakdown", "-b"))
_PROJECT: Spec = ("project", True, ("--project", "-p"))
_ORDER: Spec = ("order", True, ("--order", "-o"))
_PERIOD = (*_COMMON, _BREAKDOWN, _PROJECT, _ORDER)
_BLOCKS = (
    *_COMMON,
    _ORDER,
    ("active", False, ("--active", "-a")),
    ("recent", False, ("--recent", "-r")),
    ("token_limit", True, ("--token-limit", "-t")),
    ("session_length", True, ("--session-length", "-n")),
)
_SPECS = {
    "daily": _PERIOD,
    "monthly": _PERIOD,
    "weekly": (*_PERIOD, ("start_of_week", True, ("--start-of-week", "-w"))),
    "session": (*_COMMON, _BREAKDOWN, _PROJECT, ("limit", True, ("--limit",))),
    "blocks": _BLOCKS,
}
_OPTIONS = {
    command: {name: (key, takes) for key, takes, names in specs for name in names}
    for command, specs in _SPECS.items()
}


def parse(argv: list[str]) -> tuple[str, dict[str, Any]] | None:
    """(command, options) for a JSON report this module answers, else None."""
    if not argv or argv[0] not in _OPTIONS:
        return None
    known, given = _OPTIONS[argv[0]], dict[str, Any]()
    args = iter(argv[1:])
    for arg in args:
        name, _, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        spec = known.get(name)
        if spec is None or spec[0] in given:
            return None
        key, takes_value = spec
        if not takes_value:
            if inline:
                return None
            given[key] = True
            continue
        value = inline if "=" in arg else next(args, None)
        if value is None or (value.startswith("-") and len(value) > 1 and not inline):
            return None
        given[key] = value
    return (argv[0], given) if given.get("json") else None


def _number(value: str | None, kind: Callable[[str], Any]) -> Any:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        raise UserError(value) from None  # typer's path says it properly


def _payload(command: str, o: dict[str, Any]) -> dict[str, Any]:
    from usagectl.processors.app import usage_reports

    settings = load_settings()
    # The parsed options carry the builders' parameter names; the flags only a table uses
    # (--breakdown, --compact) and --json itself are not parameters.
    given = {k: v for k, v in o.items() if k not in ("json", "compact", "breakdown")}
    if command == "blocks":
        now_ms = int(time.time() * 1000)
        given["session_length"] = _number(given.get("session_length"), float)
        q = blocks_query(**given)
        with readmodel.open_read(settings.db_path) as conn:
            return usage_reports.blocks_report(conn, settings.account, q, now_ms)
    given["limit"] = _number(given.get("limit"), int)
    p = usage_query(**given)
    with readmodel.open_read(settings.db_path) as conn:
        if command == "session":
            return usage_reports.session_report(conn, p)
        return usage_reports.period_report(conn, command, p)


def answer(argv: list[str]) -> bool:
    """Print the report and return True, or return False for the typer app to handle."""
    parsed = parse(argv)
    if parsed is None:
        return False
    try:
        payload = _payload(*parsed)
    except (UserError, readmodel.NoReadModel):
        return False
    emit(payload)
    return True
