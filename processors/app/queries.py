"""The queries the report builders take: frozen and typed, built by the CLI from its options
and by the web face from its parameters (both checked by app.parsing first)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import msgspec


class UsageQuery(msgspec.Struct, frozen=True, kw_only=True):
    """daily, weekly, monthly and session: local days in ``timezone``, filters, cost mode."""

    timezone: ZoneInfo
    since: date | None = None
    until: date | None = None
    machine: str | None = None
    project: str | None = None
    mode: str = "auto"  # a key of projections.reports.COST_INDEX
    order: str = "asc"  # asc | desc
    start_of_week: str = "sunday"  # weekly only
    limit: int | None = None  # session only: the N most expensive


class BlocksQuery(msgspec.Struct, frozen=True, kw_only=True):
    timezone: ZoneInfo
    since: date | None = None
    until: date | None = None
    machine: str | None = None
    mode: str = "auto"
    order: str = "asc"
    active: bool = False
    recent: bool = False
    token_limit: str | None = None  # a number of tokens, or "max" (the largest past block)
    session_length: float = 5.0  # hours


class ToolsQuery(msgspec.Struct, frozen=True, kw_only=True):
    timezone: ZoneInfo
    since: date | None = None
    until: date | None = None
    machine: str | None = None
    project: str | None = None
    session: str | None = None


class PlansQuery(msgspec.Struct, frozen=True, kw_only=True):
    project: str | None = None


class TrendsQuery(msgspec.Struct, frozen=True, kw_only=True):
    timezone: ZoneInfo
    machine: str | None = None
    project: str | None = None
    mode: str = "auto"
    days: int = 30  # local days ending today
    day: date | None = None  # also this local day's hours


class ExportQuery(msgspec.Struct, frozen=True, kw_only=True):
    timezone: ZoneInfo
    format: str = "csv"  # csv | json | jsonl
    by: str = "day"  # day | session | model | project | machine
    first: date | None = None
    last: date | None = None
    machine: str | None = None
    project: str | None = None
    mode: str = "auto"


Q = TypeVar("Q", bound=msgspec.Struct)
# Parameters whose names are not field names (``from`` is a Python keyword).
PARAMETER_OF = {"first": "from", "last": "to"}


def from_params(cls: type[Q], parsed: Mapping[str, Any]) -> Q:
    """The query ``cls`` from parsed HTTP parameters (app.parsing.parse): each field from its
    parameter; a field without one keeps its default."""
    fields = {f: PARAMETER_OF.get(f, f) for f in cls.__struct_fields__}
    return cls(**{f: parsed[name] for f, name in fields.items() if name in parsed})
