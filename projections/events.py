"""The event vocabulary: every fact on the bus, as frozen msgspec Structs in one tagged union.

Evolution rule: new fields get defaults; a field's type never changes. The schema version
lives in the subject (``<prefix>.v1.<kind>.<machine>``), so a v2 can run beside v1.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

import msgspec

SCHEMA = "v1"
DEFAULT_PREFIX = "usagectl"

# No real response comes near these; beyond them a value is damage or an attack, and it would
# overflow the read model's 64-bit sums.
MAX_TOKENS = 10**9
MAX_COST_USD = 1e6
# Outside these years a timestamp is damage too, and dates far from now break local-time math.
TS_YEARS = (2000, 2199)


class Source(msgspec.Struct, frozen=True):
    """Where a usage line came from: the file (absolute on its machine) and the line's offset."""

    path: str
    offset: int


class Usage(msgspec.Struct, frozen=True, tag="usage"):
    """One assistant API response as seen in one transcript line."""

    event_id: str
    ts: datetime
    machine: str
    account: str
    project: str
    project_dir: str
    session_id: str
    source: Source
    message_id: str | None = None
    request_id: str | None = None
    agent_id: str | None = None
    is_sidechain: bool = False
    model: str | None = None
    input: int = 0
    output: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0
    web_search_requests: int = 0
    speed: str | None = None
    reported_cost_usd: float | None = None
    inference_geo: str | None = None  # usage.inference_geo; "us" is billed 1.1x

    @property
    def total_tokens(self) -> int:
        return (
            self.input + self.output + self.cache_write_5m + self.cache_write_1h + self.cache_read
        )


def implausible(u: Usage) -> str | None:
    """Why no real response could carry these values, or None if it could."""
    counts = (
        u.input,
        u.output,
        u.cache_write_5m,
        u.cache_write_1h,
        u.cache_read,
        u.web_search_requests,
    )
    if any(not 0 <= n <= MAX_TOKENS for n in counts):
        return f"token count out of range (0..{MAX_TOKENS:,})"
    if not TS_YEARS[0] <= u.ts.year <= TS_YEARS[1]:
        return f"timestamp out of range (years {TS_YEARS[0]}..{TS_YEARS[1]})"
    cost = u.reported_cost_usd
    if cost is not None and not 0 <= cost <= MAX_COST_USD:  # NaN fails both comparisons
        return f"reported cost out of range (0..{MAX_COST_USD:,.0f} USD)"
    return None


class UsageBatch(msgspec.Struct, frozen=True, tag="usage_batch"):
    """Many usage events in one message: backfill throughput (one publish, one ack, one fetch)."""

    events: tuple[Usage, ...]


class Hook(msgspec.Struct, frozen=True, tag="hook"):
    """One Claude Code hook call; unknown hook names are kept verbatim. ``payload`` is the
    trimmed stdin (projections.hooks): sizes, kinds and labels, never contents."""

    event_id: str
    ts: datetime
    machine: str
    account: str
    session_id: str
    name: str
    tool_name: str | None = None
    duration_ms: float | None = None
    success: bool | None = None
    payload: dict[str, object] = {}
    project: str = ""  # the payload's cwd
    tool_use_id: str | None = None
    agent_id: str | None = None  # the subagent the hook fired in (or started/stopped)


class Limit(msgspec.Struct, frozen=True, tag="limit"):
    """Official rate-limit utilisation read from Claude Code's statusLine input."""

    event_id: str
    ts: datetime
    machine: str
    account: str
    session_id: str
    five_hour_pct: float | None = None
    five_hour_resets_at: datetime | None = None
    seven_day_pct: float | None = None
    seven_day_resets_at: datetime | None = None


class Plan(msgspec.Struct, frozen=True, tag="plan"):
    """A plan-workflow lifecycle step derived from dev/active|complete plan files."""

    event_id: str
    ts: datetime
    machine: str
    account: str
    kind: str
    plan: str
    feature_id: str | None = None
    status: str | None = None
    pr_url: str | None = None
    project: str = ""  # the project directory the plan lives in (matched against usage cwd)
    description: str | None = None  # the feature's label, from its manifest line
    data: dict[str, object] = {}  # e.g. depends_on, feature_count, the manifest path


class Heartbeat(msgspec.Struct, frozen=True, tag="heartbeat"):
    """A producer's liveness and health; only the latest per machine is kept."""

    ts: datetime
    machine: str
    version: str
    roots: tuple[str, ...] = ()
    files: int = 0
    lag_bytes: int = 0
    rejected: dict[str, int] = {}
    unreadable: dict[str, str] = {}  # files or folders skipped when last tried: path -> why


Event = Usage | UsageBatch | Hook | Limit | Plan | Heartbeat

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Event] = msgspec.json.Decoder(Event)


def encode(event: Event) -> bytes:
    return _encoder.encode(event)


def decode(data: bytes) -> Event:
    return _decoder.decode(data)


def kind_of(event: Event) -> str:
    """The subject token for an event: a batch of usage travels as usage."""
    if isinstance(event, UsageBatch):
        return "usage"
    return type(event).__name__.lower()


_SAFE_BYTE = re.compile(rb"[A-Za-z0-9-]")
_MAX_TOKEN = 64


def encode_token(name: str) -> str:
    """Any name as one safe subject token: raw names may contain '.', '*', '>' or be empty.

    Reversible except past the length cap, where a hash keeps it unique; the real name always
    travels in the payload.
    """
    if not name:
        return "_"
    raw = name.encode("utf-8")
    out = "".join(chr(b) if _SAFE_BYTE.fullmatch(bytes([b])) else f"_{b:02X}" for b in raw)
    if len(out) > _MAX_TOKEN:
        out = out[: _MAX_TOKEN - 17] + "_" + hashlib.sha256(raw).hexdigest()[:16]
    return out


def decode_token(token: str) -> str:
    if token == "_":
        return ""
    out = re.sub(rb"_([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), token.encode())
    return out.decode("utf-8")


def subject(prefix: str, kind: str, machine: str) -> str:
    return f"{prefix}.{SCHEMA}.{kind}.{encode_token(machine)}"
