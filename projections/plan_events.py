"""Plan-workflow events derived from plan files, as a pure function of (what was seen before,
what the files hold now).

The files are the plan workflow's (reference §5): ``dev/active/<plan>/plan.md``,
``dev/active/<plan>/manifest.jsonl`` (one JSON object per feature, rewritten whenever a status
changes) and the folder's move to ``dev/complete/<plan>``. The scanner
(producers.plan_scanner) reads them into a :class:`Snapshot`; :func:`derive` compares it with the
plan's :class:`Seen` state and returns the new facts and the next state. Nothing here touches
the disk or the clock.

Event ids come from (project, plan, feature, kind, status, content): the content is how many
times the feature entered that status (1 for the first time), or the PR URL. Re-reading the same
files, or reading them again after the state was lost, gives the same ids, which the hub and the
read model keep once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

STATUSES = ("pending", "in_progress", "completed", "failed")
STATUS_KIND = {
    "in_progress": "feature_started",
    "completed": "feature_completed",
    "failed": "feature_failed",
}
# The order events of one instant are listed in (a manifest write can carry several).
KINDS = (
    "plan_created",
    "plan_optimized",
    "feature_created",
    "orchestration_started",
    "feature_started",
    "feature_failed",
    "feature_completed",
    "pr_created",
    "orchestration_completed",
)
KIND_RANK = {k: i for i, k in enumerate(KINDS)}
ACTIVE, COMPLETE = "active", "complete"
_PR_URL = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+/pull/\d+")


@dataclass(frozen=True)
class Feature:
    """One manifest line: ``status`` is None when the line's status is not one we know."""

    id: str
    status: str | None = "pending"
    description: str | None = None
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    features: tuple[Feature, ...] = ()
    pr_urls: tuple[str, ...] = ()
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> lines


@dataclass(frozen=True)
class Snapshot:
    """One plan folder as it is now; times are epoch milliseconds from the file system."""

    project: str
    plan: str
    location: str  # ACTIVE or COMPLETE
    plan_ms: int | None  # plan.md's mtime; None without a plan file
    manifest_ms: int | None = None  # None without a manifest
    moved_ms: int = 0  # when the folder last changed place (its ctime)
    manifest: Manifest = Manifest()
    manifest_path: str | None = None


class Seen(msgspec.Struct):
    """What earlier scans saw of one plan: enough to tell what is new."""

    created: bool = False
    optimized: bool = False
    started: bool = False
    completed: bool = False
    statuses: dict[str, str] = {}  # feature id -> last status seen
    entered: dict[str, int] = {}  # "<feature>/<status>" -> times the feature entered it
    pr_urls: list[str] = []


class Fact(msgspec.Struct, frozen=True):
    """A plan event before the producer adds machine and account."""

    event_id: str
    ts_ms: int
    kind: str
    feature_id: str | None = None
    status: str | None = None
    pr_url: str | None = None
    description: str | None = None
    data: dict[str, object] = {}


def event_id(
    project: str, plan: str, feature: str | None, kind: str, status: str | None, content: str = ""
) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in (project, plan, feature or "", kind, status or "", content):
        h.update(part.encode("utf-8"))
        h.update(b"\x1f")
    return "p:" + h.hexdigest()


def parse_manifest(data: bytes) -> Manifest:
    """Features, PR URLs and rejected lines (with a reason) of a manifest's bytes; never raises.

    A last line without its newline that does not parse is a write in progress
    (``partial_line``); the next change to the file reads it again.
    """
    features: dict[str, Feature] = {}
    urls: set[str] = set(_PR_URL.findall(data.decode("utf-8", "replace")))
    rejected: dict[str, int] = {}
    lines = data.split(b"\n")
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        reason, feature = _parse_line(raw, last=i == len(lines) - 1)
        if reason is not None:
            rejected[reason] = rejected.get(reason, 0) + 1
        if feature is not None:
            features[feature[0].id] = feature[0]
            if feature[1]:
                urls.add(feature[1])
    return Manifest(tuple(features.values()), tuple(sorted(urls)), rejected)


def _parse_line(raw: bytes, *, last: bool) -> tuple[str | None, tuple[Feature, str | None] | None]:
    try:
        obj = json.loads(raw)
    except ValueError:
        return ("partial_line" if last else "bad_json"), None
    if not isinstance(obj, dict):
        return "not_an_object", None
    fid = obj.get("id")
    if not isinstance(fid, str) or not fid:
        return "no_id", None
    status = obj.get("status", "pending")
    reason = None
    if status not in STATUSES:
        reason, status = "unknown_status", None
    desc = obj.get("description")
    deps = obj.get("depends_on")
    depends = tuple(d for d in deps if isinstance(d, str)) if isinstance(deps, list) else ()
    pr = obj.get("pr_url")
    feature = Feature(fid, status, desc if isinstance(desc, str) else None, depends)
    return reason, (feature, pr if isinstance(pr, str) and pr else None)


def derive(seen: Seen | None, snap: Snapshot) -> tuple[list[Fact], Seen]:
    """The facts ``snap`` adds to what ``seen`` knew, and the state after them."""
    before = seen or Seen()
    after = msgspec.structs.replace(
        before,
        statuses=dict(before.statuses),
        entered=dict(before.entered),
        pr_urls=list(before.pr_urls),
    )
    facts: list[Fact] = []
    p, plan = snap.project, snap.plan

    def add(
        ts: int,
        kind: str,
        feature: str | None = None,
        status: str | None = None,
        content: str = "",
        pr_url: str | None = None,
        description: str | None = None,
        data: dict[str, object] | None = None,
    ) -> None:
        fid = event_id(p, plan, feature, kind, status, content)
        facts.append(Fact(fid, ts, kind, feature, status, pr_url, description, data or {}))

    first_ms = min(t for t in (snap.plan_ms, snap.manifest_ms, snap.moved_ms) if t is not None)
    if not after.created and (snap.plan_ms is not None or snap.manifest_ms is not None):
        after.created = True
        add(snap.plan_ms if snap.plan_ms is not None else first_ms, "plan_created")
    if snap.manifest_ms is not None:
        _manifest_facts(after, snap, snap.manifest_ms, add)
    if snap.location == COMPLETE and after.created and not after.completed:
        after.completed = True
        add(max(snap.moved_ms, first_ms), "orchestration_completed")
    return facts, after


def _manifest_facts(after: Seen, snap: Snapshot, ts: int, add: _Add) -> None:
    features = snap.manifest.features
    if not after.optimized:
        after.optimized = True
        data = {"feature_count": len(features), "manifest": snap.manifest_path or ""}
        add(ts, "plan_optimized", data=data)
    for f in features:
        if f.id not in after.statuses:
            after.statuses[f.id] = "pending"
            data = {"depends_on": list(f.depends_on)}
            add(ts, "feature_created", f.id, description=f.description, data=data)
    for f in features:
        if f.status is None or f.status == after.statuses.get(f.id):
            continue
        after.statuses[f.id] = f.status
        if f.status not in STATUS_KIND:
            continue  # back to pending: nothing happened yet
        if not after.started:
            after.started = True
            add(ts, "orchestration_started")
        key = f"{f.id}/{f.status}"
        after.entered[key] = n = after.entered.get(key, 0) + 1
        add(ts, STATUS_KIND[f.status], f.id, f.status, str(n), description=f.description)
    for url in snap.manifest.pr_urls:
        if url not in after.pr_urls:
            after.pr_urls.append(url)
            add(ts, "pr_created", content=url, pr_url=url)


class _Add(Protocol):  # the shape of derive's ``add``
    def __call__(
        self,
        ts: int,
        kind: str,
        feature: str | None = None,
        status: str | None = None,
        content: str = "",
        pr_url: str | None = None,
        description: str | None = None,
        data: dict[str, object] | None = None,
    ) -> None: ...


def derive_all(snapshots: Iterable[Snapshot], seen: Seen | None = None) -> list[Fact]:
    """Every fact a sequence of scans of one plan produces (tests and replays)."""
    facts: list[Fact] = []
    for snap in snapshots:
        new, seen = derive(seen, snap)
        facts.extend(new)
    return facts
