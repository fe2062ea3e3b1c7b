"""The plan scanner: reads the plan folders of configured project directories, derives plan
events (projections.plan_events.derive) and publishes them with Nats-Msg-Id = event id.

What was seen is kept in ``<home>/plans.json``, written only after the hub acknowledged every
event of a scan; a failed scan is simply derived again (same ids, stored once). Manifests are
small and rewritten whole, so each scan reads them whole: a malformed or half-written line is
counted with its reason (kept per file in the state, shown by `usagectl doctor`) and read again
on the next scan, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import nats.errors
from nats.js import JetStreamContext
from usagectl.projections.events import Plan, encode, subject
from usagectl.projections.plan_events import (
    ACTIVE,
    COMPLETE,
    Fact,
    Manifest,
    Seen,
    Snapshot,
    derive,
    parse_manifest,
)

from .producer import PUBLISH_RETRIES, PublishFailed

POLL_S = 2.0


class PlanState(msgspec.Struct):
    plans: dict[str, Seen] = {}  # "<project>\x1f<plan>" -> Seen
    rejected: dict[str, dict[str, int]] = {}  # manifest path -> reason -> lines


def project_dirs(dirs: Iterable[str]) -> list[Path]:
    out: list[Path] = []
    for d in dirs:
        path = Path(d).expanduser().resolve()
        if path not in out:
            out.append(path)
    return out


def _ms(ns: int) -> int:
    return ns // 1_000_000


def _mtime(path: Path) -> int | None:
    try:
        return _ms(path.stat().st_mtime_ns)
    except OSError:
        return None


def read_plan(project: Path, folder: Path, location: str) -> Snapshot:
    """One plan folder as it is now (never raises for what the files hold)."""
    plan_ms = _mtime(folder / "plan.md")
    if plan_ms is None:
        plan_ms = _mtime(folder / f"{folder.name}.md")  # older plans name the file after it
    manifest_path = folder / "manifest.jsonl"
    manifest_ms: int | None = None
    manifest = Manifest()
    try:
        st = manifest_path.stat()
        manifest = parse_manifest(manifest_path.read_bytes())
        manifest_ms = _ms(st.st_mtime_ns)
    except FileNotFoundError:
        pass
    except OSError:
        manifest = Manifest(rejected={"unreadable": 1})
    try:
        moved_ms = _ms(folder.stat().st_ctime_ns)
    except OSError:
        moved_ms = 0
    return Snapshot(
        str(project),
        folder.name,
        location,
        plan_ms,
        manifest_ms,
        moved_ms,
        manifest,
        str(manifest_path) if manifest_ms is not None else None,
    )


def read_project(project: Path) -> list[Snapshot]:
    """Every plan folder under ``project``; a plan in both places (mid-copy) counts as active."""
    found: dict[str, Snapshot] = {}
    for location in (COMPLETE, ACTIVE):
        base = project / "dev" / location
        try:
            folders = sorted(p for p in base.iterdir() if p.is_dir())
        except OSError:
            continue
        for folder in folders:
            found[folder.name] = read_plan(project, folder, location)
    return list(found.values())


class PlanScanner:
    def __init__(
        self,
        js: JetStreamContext,
        prefix: str,
        machine: str,
        account: str,
        projects: Iterable[str],
        state_path: Path,
    ) -> None:
        self.js = js
        self.subject = subject(prefix, "plan", machine)
        self.machine = machine
        self.account = account
        self.projects = project_dirs(projects)
        self.state_path = state_path
        self.state = load_state(state_path)
        self.published = 0

    def derive(self) -> tuple[list[Plan], PlanState]:
        """The events the files add to the state, and the state after them."""
        state = PlanState(dict(self.state.plans), {})
        events: list[Plan] = []
        for project in self.projects:
            for snap in read_project(project):
                key = f"{snap.project}\x1f{snap.plan}"
                if snap.manifest.rejected and snap.manifest_path:
                    state.rejected[snap.manifest_path] = dict(snap.manifest.rejected)
                facts, state.plans[key] = derive(state.plans.get(key), snap)
                events.extend(self._event(snap, f) for f in facts)
        return events, state

    def _event(self, snap: Snapshot, f: Fact) -> Plan:
        return Plan(
            event_id=f.event_id,
            ts=datetime.fromtimestamp(f.ts_ms / 1000, UTC),
            machine=self.machine,
            account=self.account,
            kind=f.kind,
            plan=snap.plan,
            feature_id=f.feature_id,
            status=f.status,
            pr_url=f.pr_url,
            project=snap.project,
            description=f.description,
            data=f.data,
        )

    async def scan(self) -> int:
        """Publish what is new; the state moves on only once all of it is acknowledged."""
        if not self.projects:
            return 0
        events, state = self.derive()
        for event in events:
            await self._publish(event)
        if events or state.rejected != self.state.rejected:
            save_state(self.state_path, state)
        self.state = state
        self.published += len(events)
        return len(events)

    async def _publish(self, event: Plan) -> None:
        data = encode(event)
        for attempt in range(PUBLISH_RETRIES):
            try:
                await self.js.publish(
                    self.subject, data, headers={"Nats-Msg-Id": event.event_id}, timeout=5
                )
                return
            except (TimeoutError, nats.errors.Error):
                if attempt == PUBLISH_RETRIES - 1:
                    raise PublishFailed(f"the hub did not acknowledge {event.event_id}") from None
                await asyncio.sleep(min(2**attempt * 0.2, 5))

    async def follow(self, stop: asyncio.Event, interval: float = POLL_S) -> None:
        """Scan every ``interval`` seconds until stopped; a hub away past the retries waits for
        the next round (the state did not move)."""
        while not stop.is_set():
            with contextlib.suppress(PublishFailed, OSError):
                await self.scan()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


def load_state(path: Path) -> PlanState:
    try:
        return msgspec.json.decode(path.read_bytes(), type=PlanState)
    except (OSError, msgspec.DecodeError):
        return PlanState()  # lost or damaged: everything is derived again, with the same ids


def save_state(path: Path, state: PlanState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(msgspec.json.encode(state))
    os.replace(tmp, path)


def rejected_lines(path: Path) -> dict[str, dict[str, int]]:
    """Per manifest, lines that could not be used at the last scan, by reason (for doctor)."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_bytes())
        return {str(k): dict(v) for k, v in data.get("rejected", {}).items()}
    return {}
