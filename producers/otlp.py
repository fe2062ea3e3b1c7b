"""Claude Code's OpenTelemetry export, decoded: OTLP/HTTP bodies (protobuf or JSON) into the
same usage events a transcript line gives.

Claude Code sends one ``claude_code.api_request`` log record per API response (model, the
token counts, ``cost_usd``, ``duration_ms``, ``request_id``, ``session.id``,
``event.timestamp``); numbers may come as numbers or as strings. Such an event carries no
message id and no working directory, so its usage event has ``request_id`` and a source path
under ``otlp:``: the ledger then counts it only while no transcript copy of the same request
is known (projections.ledger). Metrics payloads are accepted and counted, nothing more: the
log events already carry every response.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from usagectl.projections.events import Source, Usage
from usagectl.projections.ledger import OTLP_SOURCE

API_REQUEST = ("claude_code.api_request", "api_request")
# Resource attributes that name where the events come from; otherwise the receiver's own.
MACHINE_ATTRS = ("usagectl.machine", "host.name")
ACCOUNT_ATTRS = ("usagectl.account",)
PROJECT_ATTRS = ("usagectl.project",)
DEFAULT_PROJECT = "otel"
MAX_TOKENS = 10**9  # DESIGN §3: no real response has more in one field


class BadPayload(Exception):
    """The body is not an OTLP request of the kind its path says."""


@dataclass
class Decoded:
    """What one logs request held: usage events, and records set aside with a reason."""

    usages: list[Usage] = field(default_factory=list)
    records: int = 0  # every log record seen
    rejected: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1


def parse(body: bytes, content_type: str, message: Any) -> Any:
    """``body`` into ``message`` (an empty request of the right type), JSON or protobuf."""
    try:
        if "json" in content_type.lower():
            json_format.Parse(body.decode("utf-8"), message, ignore_unknown_fields=True)
        else:
            message.ParseFromString(body)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, ValueError) as err:
        kind = "JSON" if "json" in content_type.lower() else "protobuf"
        raise BadPayload(f"not an OTLP {kind} request: {str(err)[:120] or 'unreadable'}") from err
    return message


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("array_value", "kvlist_value", "bytes_value"):
        return None  # none of the attributes we read has such a value
    return getattr(v, kind)


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


def _first(attrs: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = attrs.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def _count(attrs: dict[str, Any], name: str) -> int:
    raw = attrs.get(name)
    if raw in (None, ""):
        return 0
    try:
        n = int(float(raw))
    except (TypeError, ValueError):
        raise ValueError(f"{name} is not a number") from None
    if not 0 <= n <= MAX_TOKENS:
        raise ValueError(f"{name} out of range")
    return n


def _cost(attrs: dict[str, Any]) -> float | None:
    raw = attrs.get("cost_usd")
    if raw in (None, ""):
        return None
    try:
        cost = float(raw)
    except (TypeError, ValueError):
        raise ValueError("cost_usd is not a number") from None
    if not 0 <= cost < 1e6:
        raise ValueError("cost_usd out of range")
    return cost


def _when(attrs: dict[str, Any], record: Any) -> datetime:
    stamp = attrs.get("event.timestamp")
    if isinstance(stamp, str) and stamp:
        try:
            ts = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("event.timestamp is not an ISO time") from None
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    nanos = record.time_unix_nano or record.observed_time_unix_nano
    if not nanos:
        raise ValueError("no event.timestamp and no record time")
    return datetime.fromtimestamp(nanos / 1e9, UTC)


def is_api_request(record: Any, attrs: dict[str, Any]) -> bool:
    body = _value(record.body) if record.HasField("body") else None
    return (
        record.event_name in API_REQUEST
        or attrs.get("event.name") in API_REQUEST
        or body in API_REQUEST
    )


def _usage(record: Any, attrs: dict[str, Any], where: dict[str, str]) -> Usage:
    session = str(attrs.get("session.id") or "")
    request_id = _first(attrs, ("request_id", "request.id"))
    # The record's own bytes: an exporter's retry of the same batch gives the same id.
    digest = hashlib.sha256(record.SerializeToString(deterministic=True)).hexdigest()[:32]
    project = where["project"]
    return Usage(
        event_id=f"otlp-{digest}",
        ts=_when(attrs, record),
        machine=where["machine"],
        account=where["account"],
        project=project,
        project_dir=project,
        session_id=session,
        source=Source(f"{OTLP_SOURCE}{session}", 0),
        request_id=request_id,
        model=_first(attrs, ("model",)),
        input=_count(attrs, "input_tokens"),
        output=_count(attrs, "output_tokens"),
        cache_write_5m=_count(attrs, "cache_creation_tokens"),
        cache_read=_count(attrs, "cache_read_tokens"),
        speed=_first(attrs, ("speed",)),
        reported_cost_usd=_cost(attrs),
    )


def _records(request: Any) -> Iterator[tuple[dict[str, Any], Any]]:
    for resource_logs in request.resource_logs:
        resource = _attrs(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                yield resource, record


def decode_logs(body: bytes, content_type: str, machine: str, account: str) -> Decoded:
    """An OTLP logs request into usage events; other events are counted, not used."""
    request = parse(body, content_type, ExportLogsServiceRequest())
    out = Decoded()
    for resource, record in _records(request):
        out.records += 1
        attrs = _attrs(record.attributes)
        if not is_api_request(record, attrs):
            continue
        where = {
            "machine": _first(resource, MACHINE_ATTRS) or machine,
            "account": _first(resource, ACCOUNT_ATTRS) or account,
            "project": _first(resource, PROJECT_ATTRS) or DEFAULT_PROJECT,
        }
        try:
            out.usages.append(_usage(record, attrs, where))
        except ValueError as err:
            out.reject(f"otlp api_request: {err}")
    return out


def count_metric_points(body: bytes, content_type: str) -> int:
    """How many data points a metrics request held (accepted, counted, not used)."""
    request = parse(body, content_type, ExportMetricsServiceRequest())
    points = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    points += len(getattr(metric, kind).data_points)
    return points
