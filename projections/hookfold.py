"""Hook events folded into tool calls, subagent runs and per-session counts, as pure rules.

A *span* is one tool call (PreToolUse ... PostToolUse / PostToolUseFailure, keyed by
tool_use_id) or one subagent run (SubagentStart ... SubagentStop, keyed by agent_id). Each side
is the earliest copy seen, by (time, event id): merging is a min, so it is commutative,
associative and idempotent, and the result does not depend on arrival order (a Post before its
Pre) or on duplicates. Duration is Claude Code's own ``duration_ms`` when the end event carries
it, else end time minus start time.

Per session, counts move only for event ids not seen before (prompts, compactions) and by the
difference a span makes (tool calls, failures, subagents), the way rollups subtract an old
contribution and add the new; the end reason is the latest SessionEnd's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field

import msgspec

from .events import Hook

TOOL = "tool"
AGENT = "agent"
_START = {"PreToolUse": TOOL, "SubagentStart": AGENT}
_END = {"PostToolUse": TOOL, "PostToolUseFailure": TOOL, "SubagentStop": AGENT}

# (span_id, kind, session_id): span_id first, as the table's key, so a batch's lookups are
# index prefix scans.
SpanKey = tuple[str, str, str]


class Side(msgspec.Struct, frozen=True, array_like=True):
    """One end of a span as one event saw it."""

    ts_ms: int
    event_id: str
    label: str | None  # tool name, or agent type
    account: str
    machine: str
    project: str
    success: bool | None = None
    error_kind: str | None = None
    reported_ms: float | None = None

    def before(self, other: Side | None) -> bool:
        return other is None or (self.ts_ms, self.event_id) < (other.ts_ms, other.event_id)


class Span(msgspec.Struct, frozen=True):
    kind: str
    session_id: str
    span_id: str
    start: Side | None = None
    end: Side | None = None

    @property
    def key(self) -> SpanKey:
        return (self.span_id, self.kind, self.session_id)

    def _first(self) -> Side:
        side = self.start or self.end
        assert side is not None
        return side

    @property
    def label(self) -> str:
        for side in (self.start, self.end):
            if side is not None and side.label:
                return side.label
        return ""

    @property
    def where(self) -> tuple[str, str, str]:
        """(account, machine, project), from the start when it is known."""
        side = self._first()
        return side.account, side.machine, side.project

    @property
    def ts_ms(self) -> int:
        return self._first().ts_ms

    @property
    def duration_ms(self) -> float | None:
        if self.end is None:
            return None
        if self.end.reported_ms is not None:
            return self.end.reported_ms
        if self.start is None or self.end.ts_ms < self.start.ts_ms:
            return None
        return float(self.end.ts_ms - self.start.ts_ms)

    @property
    def outcome(self) -> bool | None:
        """True done, False failed, None not finished (or no word on it)."""
        return None if self.end is None else self.end.success

    @property
    def error_kind(self) -> str | None:
        return None if self.end is None else self.end.error_kind


_span_encoder = msgspec.json.Encoder()
_span_decoder = msgspec.json.Decoder(Span)


def encode_span(span: Span) -> bytes:
    return _span_encoder.encode(span)


def decode_span(data: bytes) -> Span:
    return _span_decoder.decode(data)


def ms(event: Hook) -> int:
    return round(event.ts.timestamp() * 1000)


def span_key(event: Hook) -> SpanKey | None:
    """Which span an event belongs to. A start without an id cannot be paired and is no span;
    an end without one is a span of its own (a call whose start we cannot know)."""
    kind = _START.get(event.name)
    ident = event.tool_use_id if kind == TOOL else event.agent_id
    if kind is not None:
        return (ident, kind, event.session_id) if ident else None
    kind = _END.get(event.name)
    if kind is None:
        return None
    ident = event.tool_use_id if kind == TOOL else event.agent_id
    return (ident or event.event_id, kind, event.session_id)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def side_of(event: Hook) -> Side:
    label = event.tool_name if _text(event.tool_name) else _text(event.payload.get("agent_type"))
    return Side(
        ts_ms=ms(event),
        event_id=event.event_id,
        label=label,
        account=event.account,
        machine=event.machine,
        project=event.project,
        success=event.success if event.name != "SubagentStop" else True,
        error_kind=_text(event.payload.get("error_kind")),
        reported_ms=event.duration_ms,
    )


def merge(span: Span | None, key: SpanKey, event: Hook) -> Span:
    span_id, kind, session_id = key
    current = span or Span(kind, session_id, span_id)
    side = side_of(event)
    if event.name in _START:
        return current if not side.before(current.start) else _replace(current, start=side)
    return current if not side.before(current.end) else _replace(current, end=side)


def _replace(span: Span, **changes: Side) -> Span:
    return msgspec.structs.replace(span, **changes)


class SessionHooks(msgspec.Struct):
    """A session's hook-derived figures (mutable: the fold updates it in place)."""

    session_id: str
    account: str
    machine: str
    project: str
    first_ms: int
    first_id: str
    last_ms: int
    events: int = 0
    prompts: int = 0
    tool_calls: int = 0
    tool_failures: int = 0
    subagents: int = 0
    compactions: int = 0
    end_ms: int | None = None
    end_id: str | None = None
    end_reason: str | None = None


SESSION_COLUMNS = tuple(SessionHooks.__struct_fields__)
# ``session``'s extra columns for people: (header, JSON key).
HOOK_COLUMNS = (
    ("Prompts", "prompts"),
    ("Tools", "toolCalls"),
    ("Agents", "subagents"),
    ("Compact", "compactions"),
    ("End", "endReason"),
)


def hook_counts(s: SessionHooks | None) -> dict[str, object]:
    """A session's hook figures as ``session --json`` adds them to ccusage's keys; nulls when
    no hook was seen (the hooks were not installed: the counts are unknown, not zero)."""
    if s is None:
        return {
            "prompts": None,
            "toolCalls": None,
            "toolFailures": None,
            "subagents": None,
            "compactions": None,
            "endReason": None,
        }
    return {
        "prompts": s.prompts,
        "toolCalls": s.tool_calls,
        "toolFailures": s.tool_failures,
        "subagents": s.subagents,
        "compactions": s.compactions,
        "endReason": s.end_reason,
    }


def _session(sessions: dict[str, SessionHooks], event: Hook) -> SessionHooks:
    t = ms(event)
    s = sessions.get(event.session_id)
    if s is None:
        s = SessionHooks(
            event.session_id, event.account, event.machine, event.project, t, event.event_id, t
        )
        sessions[event.session_id] = s
    elif (t, event.event_id) < (s.first_ms, s.first_id):
        s.account, s.machine, s.project = event.account, event.machine, event.project
        s.first_ms, s.first_id = t, event.event_id
    s.last_ms = max(s.last_ms, t)
    if event.name == "SessionEnd" and (t, event.event_id) > (s.end_ms or 0, s.end_id or ""):
        s.end_ms, s.end_id = t, event.event_id
        reason = event.payload.get("reason")
        s.end_reason = reason if isinstance(reason, str) else ""
    return s


@dataclass
class Folded:
    """What a batch changes: event ids new to the read model, and the rows to write."""

    new_ids: list[str] = field(default_factory=list)
    spans: dict[SpanKey, Span] = field(default_factory=dict)
    sessions: dict[str, SessionHooks] = field(default_factory=dict)


def fold(
    seen: Set[str],
    spans: Mapping[SpanKey, Span],
    sessions: Mapping[str, SessionHooks],
    events: Iterable[Hook],
) -> Folded:
    """Fold ``events`` onto the stored state: ``seen`` are their ids the read model already
    holds, ``spans`` and ``sessions`` the stored rows they touch (missing ones are new)."""
    out = Folded(sessions={k: msgspec.structs.replace(v) for k, v in sessions.items()})
    known = set(seen)
    for event in events:
        session = _session(out.sessions, event)
        if event.event_id not in known:
            known.add(event.event_id)
            out.new_ids.append(event.event_id)
            session.events += 1
            session.prompts += event.name == "UserPromptSubmit"
            session.compactions += event.name == "PreCompact"
        key = span_key(event)
        if key is None:
            continue
        old = out.spans.get(key, spans.get(key))
        new = merge(old, key, event)
        if new is old:
            continue
        out.spans[key] = new
        if old is None and key[1] == AGENT:
            session.subagents += 1
        elif key[1] == TOOL:
            session.tool_calls += old is None
            session.tool_failures += (new.outcome is False) - (
                old is not None and old.outcome is False
            )
    return out
