"""The deduplicated entry ledger: which copy of a response counts, as a pure fold.

Key ``(message.id, requestId-or-none)``; no message.id means the line is its own key. Among
copies of one key the winner is: the non-sidechain copy; the larger total tokens; the larger
cost; the copy with ``speed``; then the copy earliest in (path, offset) order, which is the copy
ccusage keeps on a tie (it merges files in sorted path order), then event_id. A sidechain
winner whose message.id also has a non-sidechain winner under another requestId is a replay
(``/btw``) and does not count. Because every rule compares copies by their own content, the
result does not depend on arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass

import msgspec

from .events import Usage
from .pricing import cost_usd

SYNTHETIC = "<synthetic>"
BUCKET_SECONDS = 900
# Source paths of usage from Claude Code's OpenTelemetry events (producers.otlp): such a copy
# has a request id and no message id, and counts only while no transcript copy of that
# request is known (the transcript copy is richer: message id, cwd, 5m/1h cache split).
OTLP_SOURCE = "otlp:"


class Entry(msgspec.Struct, frozen=True):
    """One winning copy as the read model stores it: everything a rollup needs to add or undo."""

    key: str
    message_id: str | None
    event_id: str
    ts_ms: int
    account: str
    machine: str
    project: str
    project_dir: str
    session_id: str
    model: str
    is_sidechain: bool
    has_speed: bool
    input: int
    output: int
    cache_write_5m: int
    cache_write_1h: int
    cache_read: int
    cost_calculated: float | None
    reported_cost: float | None
    source_path: str
    source_offset: int

    @property
    def total_tokens(self) -> int:
        return (
            self.input + self.output + self.cache_write_5m + self.cache_write_1h + self.cache_read
        )

    @property
    def cost_auto(self) -> float:
        if self.reported_cost is not None:
            return self.reported_cost
        return self.cost_calculated or 0.0

    @property
    def request_id(self) -> str | None:
        """The request this copy answers, when known (from its key)."""
        if self.key.startswith("r:"):
            return self.key[2:]
        if self.key.startswith("m:"):
            return self.key.partition("\x1f")[2] or None
        return None

    @property
    def via_otlp(self) -> bool:
        return self.key.startswith("r:")

    @property
    def bucket(self) -> int:
        return self.ts_ms // 1000 // BUCKET_SECONDS * BUCKET_SECONDS


def display_model(model: str | None, speed: str | None) -> str:
    """The model name reports show; '' for lines with no real model (they add no model)."""
    if not model or model == SYNTHETIC:
        return ""
    return f"{model}-fast" if speed == "fast" else model


def dedup_key(message_id: str | None, request_id: str | None, event_id: str) -> str:
    if message_id is None:
        return "e:" + event_id
    return f"m:{message_id}\x1f{request_id or ''}"


def entry_key(u: Usage) -> str:
    if u.source.path.startswith(OTLP_SOURCE) and u.message_id is None and u.request_id:
        return "r:" + u.request_id
    return dedup_key(u.message_id, u.request_id, u.event_id)


def to_entry(u: Usage) -> Entry:
    synthetic = not u.model or u.model == SYNTHETIC
    calculated = (
        0.0
        if synthetic
        else cost_usd(
            u.model,
            u.input,
            u.output,
            u.cache_write_5m,
            u.cache_write_1h,
            u.cache_read,
            ts=u.ts,
            speed=u.speed,
            inference_geo=u.inference_geo,
            web_search_requests=u.web_search_requests,
        )
    )
    return Entry(
        key=entry_key(u),
        message_id=u.message_id,
        event_id=u.event_id,
        ts_ms=int(u.ts.timestamp() * 1000 + 0.5),
        account=u.account,
        machine=u.machine,
        project=u.project,
        project_dir=u.project_dir,
        session_id=u.session_id,
        model=display_model(u.model, u.speed),
        is_sidechain=u.is_sidechain,
        has_speed=u.speed is not None,
        input=u.input,
        output=u.output,
        cache_write_5m=u.cache_write_5m,
        cache_write_1h=u.cache_write_1h,
        cache_read=u.cache_read,
        cost_calculated=calculated,
        reported_cost=u.reported_cost_usd,
        source_path=u.source.path,
        source_offset=u.source.offset,
    )


def beats(a: Entry, b: Entry) -> bool:
    """True when copy ``a`` should count instead of copy ``b`` of the same key."""
    rank_a = (not a.is_sidechain, a.total_tokens, a.cost_auto, a.has_speed)
    rank_b = (not b.is_sidechain, b.total_tokens, b.cost_auto, b.has_speed)
    if rank_a != rank_b:
        return rank_a > rank_b
    return (a.source_path, a.source_offset, a.event_id) < (
        b.source_path,
        b.source_offset,
        b.event_id,
    )


Group = Mapping[str, Entry]


def counted(group: Group) -> dict[str, Entry]:
    """The winners of one message group that count (sidechain replays removed)."""
    main = {k: e for k, e in group.items() if not e.is_sidechain}
    return main if main else dict(group)


@dataclass(frozen=True, slots=True)
class Change:
    """A counted entry leaving (``old``) and/or arriving (``new``); rollups undo old, add new."""

    old: Entry | None
    new: Entry | None


def group_id(entry: Entry) -> str:
    return entry.message_id if entry.message_id is not None else entry.key


def transcript_requests(groups: Iterable[Group]) -> set[str]:
    """Request ids that a transcript copy answers, among these groups."""
    return {
        rid
        for members in groups
        for e in members.values()
        if not e.via_otlp and (rid := e.request_id) is not None
    }


def counted_in(gid: str, group: Group, covered: Set[str]) -> dict[str, Entry]:
    """``counted`` for a group, where an OpenTelemetry copy of a request in ``covered`` (a
    transcript copy of it is known) does not count."""
    if gid.startswith("r:") and gid[2:] in covered:
        return {}
    return counted(group)


@dataclass(frozen=True, slots=True)
class Folded:
    changed: dict[str, dict[str, Entry]]  # group -> all its copies, for every group changed
    changes: list[Change]
    live: set[str]  # keys that count, among the changed groups' copies


def fold_covered(
    groups: Mapping[str, Group], entries: Iterable[Entry], covered: Set[str] = frozenset()
) -> Folded:
    """Apply new copies to the current winners; ``groups`` holds the stored copies of every
    group the new entries touch (and the OpenTelemetry group ``r:<request>`` of each of their
    request ids), ``covered`` the request ids a stored transcript copy answers."""
    before = {g: dict(members) for g, members in groups.items()}
    after = {g: dict(members) for g, members in groups.items()}
    for entry in entries:
        members = after.setdefault(group_id(entry), {})
        current = members.get(entry.key)
        if current is None or beats(entry, current):
            members[entry.key] = entry
    covered_before = set(covered) | transcript_requests(before.values())
    covered_after = covered_before | transcript_requests(after.values())
    out = Folded({}, [], set())
    for gid, members in after.items():
        old_members = before.get(gid, {})
        old_counted = counted_in(gid, old_members, covered_before)
        new_counted = counted_in(gid, members, covered_after)
        if members == old_members and old_counted == new_counted:
            continue
        out.changed[gid] = members
        out.live.update(new_counted)
        for key in old_counted.keys() | new_counted.keys():
            old, new = old_counted.get(key), new_counted.get(key)
            if old != new:
                out.changes.append(Change(old, new))
    return out


def fold(
    groups: Mapping[str, Group], entries: Iterable[Entry]
) -> tuple[dict[str, dict[str, Entry]], list[Change]]:
    """``fold_covered`` with nothing known beyond ``groups``."""
    folded = fold_covered(groups, entries)
    return folded.changed, folded.changes


def counted_entries(groups: Mapping[str, Group]) -> list[Entry]:
    """Every copy that counts across ``groups`` (all of them known)."""
    covered = transcript_requests(groups.values())
    return [e for gid, g in groups.items() for e in counted_in(gid, g, covered).values()]
