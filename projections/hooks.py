"""Claude Code hook calls as ``hook`` events, as pure rules: the stdin payload in, a trimmed
event out (no clock, no files: the caller passes the time, machine and account).

What is kept: the event name verbatim (unknown names too), session / agent / tool-use ids, the
cwd, tool name, duration, success and a kind of error, and short labels (source, reason,
trigger, notification_type, agent_type, ...). What is never kept: tool inputs and outputs,
file contents, assistant messages: only their size in bytes. Prompts are kept as length and
SHA-256 unless the user opts in. Unknown fields are kept when they are short scalars, else
measured, so a new Claude Code event arrives with its shape but never with a payload blob.

The event id hashes the payload itself (canonical JSON), not the time it was seen: the same
hook delivered twice (two settings files, a replayed recording) is one event. Claude Code
makes distinct calls distinct (tool_use_id, prompt_id, agent_id, last_assistant_message).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import datetime
from typing import Any

from .events import Hook

# The events Claude Code sends a command hook (the SDK's HOOK_EVENTS; newer ones are kept too).
EVENTS = (
    "SessionStart",
    "SessionEnd",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "Notification",
    "Stop",
    "SubagentStart",
    "SubagentStop",
    "PreCompact",
    "PermissionRequest",
)
# Events whose hooks take no matcher (Claude Code ignores one if given).
NO_MATCHER = frozenset({"UserPromptSubmit", "Stop"})

MAX_LABEL = 200
MAX_PATH = 1024
MAX_KEY = 64
MAX_EXTRA = 24  # unknown fields kept per event
MAX_PROMPT = 32768  # opted-in prompt text
MAX_MS = 1e10  # a duration longer than ~115 days is not one

# Claimed by typed fields of the event (or by nothing: transcript paths tell us nothing new).
_BASE = frozenset(
    {
        "hook_event_name",
        "session_id",
        "cwd",
        "tool_name",
        "tool_use_id",
        "agent_id",
        "duration_ms",
        "transcript_path",
        "agent_transcript_path",
        "prompt",
        "error",
    }
)
# Free text, inputs, outputs: measured, never kept, whatever event they come with.
_CONTENT = frozenset(
    {
        "tool_input",
        "tool_response",
        "last_assistant_message",
        "custom_instructions",
        "compact_summary",
        "error_details",
        "message",
        "title",
        "content",
        "delta",
        "task_description",
        "task_subject",
        "command_args",
        "requested_schema",
        "tool_calls",
        "background_tasks",
        "session_crons",
        "permission_suggestions",
        "url",
        "elicitation_id",
    }
)
# Short labels worth keeping verbatim (capped).
_LABELS = (
    "source",
    "reason",
    "trigger",
    "notification_type",
    "agent_type",
    "permission_mode",
    "model",
    "prompt_id",
    "session_title",
    "expansion_type",
    "command_name",
    "command_source",
    "memory_type",
    "load_reason",
    "mcp_server_name",
    "mode",
    "action",
    "teammate_name",
    "team_name",
    "task_id",
    "file_path",
    "name",
)
_KEPT = frozenset((*_LABELS, "effort", "stop_hook_active", "is_interrupt"))


def clean(value: Any, cap: int = MAX_LABEL) -> str | None:
    """A string as we keep it: capped, and lone surrogates replaced (JSON lets `\\ud800` in,
    UTF-8 and the encoder do not)."""
    if not isinstance(value, str):
        return None
    return value[:cap].encode("utf-8", "replace").decode("utf-8")


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def duration(value: Any) -> float | None:
    number = _finite(value)
    return number if number is not None and 0 <= number <= MAX_MS else None


_COMPACT: dict[str, Any] = {"ensure_ascii": False, "separators": (",", ":")}


def size(value: Any) -> int | None:
    """Bytes of a value as compact JSON text (a string: its UTF-8 bytes); None if it cannot be
    measured (nesting deeper than the encoder goes)."""
    try:
        text = value if isinstance(value, str) else json.dumps(value, **_COMPACT)
        return len(text.encode("utf-8", "replace"))
    except (ValueError, TypeError, RecursionError):
        return None


_CLASS = re.compile(r"\b([A-Z][A-Za-z0-9_]*(?:Error|Exception))\b")
_EXIT = re.compile(r"\bexit(?:ed with)?(?: code| status)?[ :]+(-?\d{1,4})\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")


def error_kind(error: Any, interrupted: bool = False) -> str:
    """A short, groupable kind for a failed tool call: ``interrupt``; an exception class named
    in the message (``FileNotFoundError``); ``exit 1`` for a failed command; else the
    message's first word, lower-cased; ``unknown`` when there is no message."""
    if interrupted:
        return "interrupt"
    text = clean(error, 2000)
    if not text or not text.strip():
        return "unknown"
    if found := _CLASS.search(text):
        return found.group(1)[:MAX_KEY]
    if found := _EXIT.search(text):
        return f"exit {int(found.group(1))}"
    if found := _WORD.search(text):
        return found.group(0).lower()
    return "other"


def _success(name: str, data: dict[str, Any]) -> bool | None:
    if name == "PostToolUseFailure":
        return False
    if name != "PostToolUse":
        return None
    response = data.get("tool_response")
    failed = isinstance(response, dict) and (
        response.get("success") is False or response.get("is_error") is True
    )
    return not failed


_MEASURE = object()  # what _scalar answers for a value to measure, not keep


def _scalar(value: Any) -> object:
    """An unknown field's value if it is a short scalar, else the marker to measure it."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and -(2**53) <= value <= 2**53:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _MEASURE
    if isinstance(value, str) and len(value) <= MAX_LABEL:
        return clean(value)
    return _MEASURE


def _prompt(data: dict[str, Any], keep: bool, out: dict[str, object]) -> None:
    prompt = data.get("prompt")
    if not isinstance(prompt, str):
        return
    raw = prompt.encode("utf-8", "surrogatepass")
    out["prompt_length"] = len(prompt)
    out["prompt_sha256"] = hashlib.sha256(raw).hexdigest()
    if keep:
        out["prompt"] = clean(prompt, MAX_PROMPT)
        if len(prompt) > MAX_PROMPT:
            out["prompt_truncated"] = True


def _measure(out: dict[str, object], key: str, value: Any) -> None:
    measured = size(value)
    if measured is not None:
        out[f"{clean(key, MAX_KEY)}_bytes"] = measured


def trim(name: str, data: dict[str, Any], keep_prompts: bool = False) -> dict[str, object]:
    """The payload as it goes on the bus: labels, sizes, kinds; never contents."""
    out: dict[str, object] = {}
    for key in _LABELS:
        value = clean(data.get(key), MAX_PATH if key == "file_path" else MAX_LABEL)
        if value is not None:
            out[key] = value
    effort = data.get("effort")
    if isinstance(effort, dict) and (level := clean(effort.get("level"))) is not None:
        out["effort"] = level
    for key in ("stop_hook_active", "is_interrupt"):
        if isinstance(data.get(key), bool):
            out[key] = data[key]
    _prompt(data, keep_prompts, out)
    if name == "PostToolUseFailure" or "error" in data:
        out["error_kind"] = error_kind(data.get("error"), data.get("is_interrupt") is True)
        if "error" in data:
            _measure(out, "error", data["error"])
    extra = 0
    for key, value in data.items():
        if key in _BASE or key in _KEPT or key in out:
            continue
        if key in _CONTENT:
            _measure(out, key, value)
            continue
        if extra >= MAX_EXTRA or len(key) > MAX_KEY:
            continue  # a payload of many odd keys is still a small event
        extra += 1
        kept = _scalar(value)
        if kept is _MEASURE:
            _measure(out, key, value)
        else:
            out[clean(key) or "?"] = kept
    return out


def event_id(data: dict[str, Any], raw: bytes) -> str:
    """The payload's hash: canonical JSON, so key order and spacing do not matter; the raw
    bytes when it cannot be re-encoded (nesting deeper than the encoder goes)."""
    try:
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, TypeError, RecursionError):
        canonical = raw
    return "hook:" + hashlib.blake2b(canonical, digest_size=16).hexdigest()


def parse(raw: bytes) -> dict[str, Any] | None:
    """The payload as a JSON object, or None. Invalid UTF-8 is replaced, not refused: a hook
    with one bad byte in a tool output still happened."""
    try:
        data = json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def hook_event(
    raw: bytes, *, machine: str, account: str, now: datetime, keep_prompts: bool = False
) -> Hook | None:
    """A ``hook`` event from what Claude Code wrote on stdin; None if it is not a hook call
    (not a JSON object, or no event name)."""
    data = parse(raw)
    if data is None:
        return None
    name = clean(data.get("hook_event_name"))
    if not name:
        return None
    return Hook(
        event_id=event_id(data, raw),
        ts=now,
        machine=machine,
        account=account,
        session_id=clean(data.get("session_id")) or "",
        name=name,
        tool_name=clean(data.get("tool_name")),
        duration_ms=duration(data.get("duration_ms")),
        success=_success(name, data),
        payload=trim(name, data, keep_prompts),
        project=clean(data.get("cwd"), MAX_PATH) or "",
        tool_use_id=clean(data.get("tool_use_id")),
        agent_id=clean(data.get("agent_id")),
    )
