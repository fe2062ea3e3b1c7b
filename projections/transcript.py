"""Transcript normaliser: one JSONL line in, one usage event or a named reason out.

Decoding goes through small view structs naming only the fields we read, so msgspec skips
everything else (content, tool inputs) without building objects for it. Pure: the caller reads
files and passes bytes plus the file's context.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Annotated

import msgspec

from .events import MAX_COST_USD, MAX_TOKENS, TS_YEARS, Source, Usage

Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS)]
Cost = Annotated[float, msgspec.Meta(ge=0, le=MAX_COST_USD)]

# The marker every billable line contains; lines without it are classified by type only.
USAGE_MARKER = b'"usage"'
BOM = b"\xef\xbb\xbf"


class _CacheCreation(msgspec.Struct):
    ephemeral_5m_input_tokens: Count = 0
    ephemeral_1h_input_tokens: Count = 0


class _ServerToolUse(msgspec.Struct):
    web_search_requests: Count = 0


class _IterationView(msgspec.Struct):
    """One entry of usage.iterations[]: only ``advisor_message`` ones are billed on their own."""

    type: str | None = None
    model: str | None = None
    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cache_creation_input_tokens: Count | None = 0
    cache_read_input_tokens: Count | None = 0
    cache_creation: _CacheCreation | None = None


class _UsageView(msgspec.Struct):
    input_tokens: Count
    output_tokens: Count
    cache_creation_input_tokens: Count = 0
    cache_read_input_tokens: Count = 0
    cache_creation: _CacheCreation | None = None
    server_tool_use: _ServerToolUse | None = None
    speed: str | None = None
    inference_geo: str | None = None
    iterations: list[_IterationView] | None = None


class _MessageView(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    usage: _UsageView | None = None


class _LineView(msgspec.Struct):
    type: str = ""
    timestamp: str | None = None
    message: _MessageView | None = None
    requestId: str | None = None
    isSidechain: bool = False
    sessionId: str | None = None
    agentId: str | None = None
    cwd: str | None = None
    costUSD: Cost | None = None


class _TypeView(msgspec.Struct):
    type: str = ""


_line_decoder = msgspec.json.Decoder(_LineView)
_type_decoder = msgspec.json.Decoder(_TypeView)

# Line types Claude Code writes that never carry billable usage; anything else is "other".
KNOWN_TYPES = frozenset(
    {
        "user",
        "system",
        "summary",
        "progress",
        "file-history-snapshot",
        "queue-operation",
        "last-prompt",
        "ai-title",
        "attachment",
        "custom-title",
    }
)

# Reasons a line is rejected as unusable (malformed); skipped kinds are "skip:<type>".
NOT_JSON = "not_json"
BAD_TOKENS = "bad_token_value"
TOO_LARGE = "token_value_too_large"
BAD_COST = "cost_out_of_range"
MISSING_TOKENS = "missing_token_field"
BAD_TIMESTAMP = "bad_timestamp"
BAD_FIELD = "bad_field_type"
NO_USAGE = "assistant_without_usage"
BLANK = "blank"
TOO_DEEP = "nested_too_deep"
BAD_UTF8 = "invalid_utf8"


@dataclass(frozen=True, slots=True)
class FileContext:
    """What every line of one file shares: who, where, and which session it belongs to."""

    machine: str
    account: str
    path: str
    project_dir: str
    session_id: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A line that is not a usage event, with why: ``rejected`` marks malformed input."""

    reason: str
    rejected: bool


def file_context(root: str, path: str, machine: str, account: str) -> FileContext:
    """Project folder and session id from the path, as ccusage derives them.

    ``projects/<p>/<s>.jsonl`` is session ``s``; ``projects/<p>/<s>/subagents/<f>.jsonl`` rolls
    into its parent session ``s``; otherwise the parent folder names the session.
    """
    parts = PurePath(path).relative_to(PurePath(root) / "projects").parts
    project_dir = parts[0] if len(parts) > 1 else "unknown"
    if len(parts) == 2:
        session = PurePath(parts[1]).stem
    elif len(parts) >= 4 and parts[-2] == "subagents":
        session = parts[-3]
    else:
        session = parts[-2] if len(parts) >= 2 else PurePath(parts[-1]).stem
    return FileContext(machine, account, path, project_dir, session)


def event_id(ctx: FileContext, offset: int, line: bytes) -> str:
    """Same line at the same place re-read gives the same id; identical lines elsewhere differ."""
    h = hashlib.blake2b(digest_size=16)
    h.update(ctx.machine.encode())
    h.update(b"\0")
    h.update(ctx.path.encode())
    h.update(b"\0")
    h.update(offset.to_bytes(8, "little"))
    h.update(line)
    return h.hexdigest()


def parse_timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    if ts.tzinfo is None or not TS_YEARS[0] <= ts.year <= TS_YEARS[1]:
        return None  # far-off years are damage, and some overflow on the way to UTC
    return ts.astimezone(UTC)


def _classify_validation(err: msgspec.ValidationError) -> str:
    text = str(err)
    if "$.message.usage" in text:
        if "missing required field" in text:
            return MISSING_TOKENS
        return TOO_LARGE if "<=" in text else BAD_TOKENS
    return BAD_COST if "$.costUSD" in text and "Expected `float`" in text else BAD_FIELD


def _skip_by_type(line: bytes) -> Skipped:
    try:
        kind = _type_decoder.decode(line).type
    except msgspec.DecodeError:
        return Skipped(NOT_JSON, True)
    except RecursionError:
        return Skipped(TOO_DEEP, True)
    except UnicodeDecodeError:
        return Skipped(BAD_UTF8, True)
    if kind == "assistant":
        return Skipped(NO_USAGE, False)
    return Skipped("skip:" + (kind if kind in KNOWN_TYPES else "other"), False)


def normalise(ctx: FileContext, offset: int, line: bytes) -> Usage | Skipped:
    """One transcript line (without its newline) to its main usage event, or why it has none."""
    parsed = normalise_line(ctx, offset, line)
    return parsed if isinstance(parsed, Skipped) else parsed[0]


def normalise_line(ctx: FileContext, offset: int, line: bytes) -> tuple[Usage, ...] | Skipped:
    """One transcript line (without its newline) to its usage events, or why it has none.

    The first event is the response itself; one more follows for each ``advisor_message``
    iteration, billed under the advisor's own model (its tokens are not in the top-level
    usage), with message id ``<id>:advisor:<n>`` as ccusage 20.0.17+ does. ``fallback_message``
    iterations are failed attempts and add nothing."""
    if line.startswith(BOM):  # editors and some tools write one before the first line
        line = line[len(BOM) :]
    if not line.strip():
        return Skipped(BLANK, False)
    if USAGE_MARKER not in line:
        return _skip_by_type(line)
    try:
        view = _line_decoder.decode(line)
    except RecursionError:
        return Skipped(TOO_DEEP, True)
    except UnicodeDecodeError:
        return Skipped(BAD_UTF8, True)
    except msgspec.ValidationError as err:
        by_type = _skip_by_type(line)
        # A non-assistant line may shape its fields differently; only assistant lines must fit.
        return (
            by_type
            if by_type.reason.startswith("skip:")
            else Skipped(_classify_validation(err), True)
        )
    except msgspec.DecodeError:
        return Skipped(NOT_JSON, True)
    if view.type != "assistant":
        return Skipped("skip:" + (view.type if view.type in KNOWN_TYPES else "other"), False)
    message = view.message
    if message is None or message.usage is None:
        return Skipped(NO_USAGE, False)
    ts = parse_timestamp(view.timestamp)
    if ts is None:
        return Skipped(BAD_TIMESTAMP, True)
    main = _usage_event(ctx, offset, line, view, message, message.usage, ts)
    return (main, *_advisors(main, message.usage.iterations or ()))


def _cache_writes(flat: int, split: _CacheCreation | None) -> tuple[int, int]:  # (5-minute, 1-hour)
    # With a TTL breakdown, its parts replace the flat count (as ccusage does); without one,
    # every cache write was a 5-minute write.
    if split is not None:
        return split.ephemeral_5m_input_tokens, split.ephemeral_1h_input_tokens
    return flat, 0


def _advisors(main: Usage, iterations: list[_IterationView] | tuple[()]) -> list[Usage]:
    out: list[Usage] = []
    for it in iterations:
        if it.type != "advisor_message" or not it.model:
            continue
        if it.input_tokens is None or it.output_tokens is None:
            continue
        n = len(out)
        cw5, cw1 = _cache_writes(it.cache_creation_input_tokens or 0, it.cache_creation)
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{main.event_id}:advisor:{n}".encode())
        out.append(
            msgspec.structs.replace(
                main,
                event_id=h.hexdigest(),
                model=it.model,
                input=it.input_tokens,
                output=it.output_tokens,
                cache_write_5m=cw5,
                cache_write_1h=cw1,
                cache_read=it.cache_read_input_tokens or 0,
                web_search_requests=0,
                speed=None,
                reported_cost_usd=None,
                message_id=None if main.message_id is None else f"{main.message_id}:advisor:{n}",
            )
        )
    return out


def _usage_event(
    ctx: FileContext,
    offset: int,
    line: bytes,
    view: _LineView,
    message: _MessageView,
    usage: _UsageView,
    ts: datetime,
) -> Usage:
    cw5, cw1 = _cache_writes(usage.cache_creation_input_tokens, usage.cache_creation)
    web = usage.server_tool_use.web_search_requests if usage.server_tool_use else 0
    return Usage(
        event_id=event_id(ctx, offset, line),
        ts=ts,
        machine=ctx.machine,
        account=ctx.account,
        project=view.cwd or ctx.project_dir,
        project_dir=ctx.project_dir,
        session_id=ctx.session_id,
        source=Source(ctx.path, offset),
        message_id=message.id or None,
        request_id=view.requestId or None,
        agent_id=view.agentId,
        is_sidechain=view.isSidechain,
        model=message.model or None,
        input=usage.input_tokens,
        output=usage.output_tokens,
        cache_write_5m=cw5,
        cache_write_1h=cw1,
        cache_read=usage.cache_read_input_tokens,
        web_search_requests=web,
        speed=usage.speed,
        reported_cost_usd=view.costUSD,
        inference_geo=usage.inference_geo,
    )
