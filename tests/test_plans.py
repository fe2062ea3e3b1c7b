"""Plan folders as the plan workflow writes them: `sync --plans` (and `up --plans`) turn them
into plan events once each, and `plans` shows the timeline and the usage of each feature's
in-progress window."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conftest import Env
from usagectl.processors.bus import BusSettings, connect


def plan_messages(url: str) -> int:
    """Plan events stored in the stream (the hook test's subject count, on plan subjects)."""
    import asyncio

    async def count() -> int:
        bus = BusSettings(url=url)
        nc = await connect(bus)
        try:
            info = await nc.jetstream().stream_info(
                bus.stream, subjects_filter=f"{bus.prefix}.v1.plan.>"
            )
            return sum((info.state.subjects or {}).values())
        finally:
            await nc.close()

    return asyncio.run(count())


H = 3_600_000
NOW = (int(time.time()) // 60) * 60_000  # whole minutes: mtimes stored in ms compare exactly
T0, T1, T2, T3, T4 = (NOW - k * H for k in (5, 4, 3, 2, 1))
PR = "https://github.com/acme/app/pull/42"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def write(path: Path, text: str, ms: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, ns=(ms * 1_000_000, ms * 1_000_000))


def manifest(folder: Path, ms: int, *statuses: str, extra: str = "", pr: bool = False) -> None:
    lines = []
    for n, status in enumerate(statuses, 1):
        line: dict[str, Any] = {"id": f"F00{n}", "file": f"prompts/0{n}.md", "status": status,
                                "description": f"feature {n}", "depends_on": []}  # fmt: skip
        if pr and n == len(statuses):
            line["pr_url"] = PR
        lines.append(json.dumps(line))
    write(folder / "manifest.jsonl", "\n".join(lines) + "\n" + extra, ms)


def transcript(env: Env, cwd: Path, *stamps: tuple[int, int]) -> None:
    """One response per (time, output tokens), in a session run in ``cwd``."""
    folder = env.claude / "projects" / "-proj"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (ms, output) in enumerate(stamps):
        lines.append(json.dumps({
            "type": "assistant", "timestamp": iso(ms), "sessionId": "s1", "cwd": str(cwd),
            "requestId": f"req_{i}", "message": {
                "id": f"msg_{i}", "model": "claude-sonnet-4-5-20250929",
                "usage": {"input_tokens": 0, "output_tokens": output}}}))  # fmt: skip
    (folder / "s1.jsonl").write_text("\n".join(lines) + "\n")


def events(env: Env) -> list[tuple[str, str | None]]:
    (plan,) = env.json("plans")["plans"]
    return [(e["kind"], e["featureId"]) for e in plan["events"]]


EXPECTED = [
    ("plan_created", None), ("plan_optimized", None), ("feature_created", "F001"),
    ("feature_created", "F002"), ("orchestration_started", None), ("feature_started", "F001"),
    ("feature_started", "F002"), ("feature_completed", "F001"), ("feature_completed", "F002"),
    ("pr_created", None), ("orchestration_completed", None),
]  # fmt: skip


def test_a_plan_from_creation_to_complete_is_shown_once_in_order(env: Env, tmp_path: Path) -> None:
    project = (tmp_path / "proj").resolve()
    active = project / "dev" / "active" / "auth"
    sync = ("sync", "--plans", str(project))
    transcript(env, project, (T0 + 600_000, 1), (T2 + 600_000, 100), (T3 + 600_000, 20),
               (T4 + 600_000, 3000))  # fmt: skip
    write(active / "plan.md", "# Auth\n", T0)
    env.run(*sync)
    manifest(active, T1, "pending", "pending", extra='{"id": "F003", "stat')  # half-written
    env.run(*sync)
    doctor = env.json("doctor")
    rejected = doctor["plans"]["rejected_manifest_lines"]
    assert rejected == {str(active / "manifest.jsonl"): {"partial_line": 1}}
    manifest(active, T2, "in_progress", "pending")
    env.run(*sync)
    assert env.json("doctor")["plans"]["rejected_manifest_lines"] == {}
    manifest(active, T3, "completed", "in_progress")
    env.run(*sync)
    manifest(active, T4, "completed", "completed", pr=True)
    env.run(*sync)
    (project / "dev" / "complete").mkdir(parents=True)
    active.rename(project / "dev" / "complete" / "auth")
    env.run(*sync)
    assert events(env) == EXPECTED
    assert env.nats_url is not None and plan_messages(env.nats_url) == len(EXPECTED)
    env.run(*sync)
    env.run("sync")  # without --plans: nothing is rescanned, nothing changes
    report = env.json("plans")
    (plan,) = report["plans"]
    assert events(env) == EXPECTED
    assert plan_messages(env.nats_url) == len(EXPECTED)  # published once, not merely deduped
    assert (plan["status"], plan["prUrl"], plan["project"]) == ("completed", PR, str(project))
    assert (plan["createdAt"], plan["startedAt"]) == (iso(T0), iso(T2))
    f1, f2 = plan["features"]
    assert (f1["status"], f1["startedAt"], f1["completedAt"]) == ("completed", iso(T2), iso(T3))
    assert (f2["startedAt"], f2["completedAt"]) == (iso(T3), iso(T4))
    # Tokens of the responses inside each window only (T0+10m and T4+10m are outside both).
    assert (f1["usage"]["outputTokens"], f1["usage"]["entries"]) == (100, 1)
    assert (f2["usage"]["outputTokens"], f2["usage"]["entries"]) == (20, 1)
    assert f1["usage"]["costUSD"] > 0
    table = env.run("plans").stdout
    assert "auth" in table and "F001" in table and PR in table


def test_up_follows_plan_changes_and_a_later_sync_adds_nothing(env: Env, tmp_path: Path) -> None:
    project = (tmp_path / "proj").resolve()
    active = project / "dev" / "active" / "auth"
    write(active / "plan.md", "# Auth\n", T0)
    manifest(active, T1, "pending", "pending")
    env.extra["USAGECTL_PLANS"] = str(project)  # the environment's list, not --plans
    proc = env.popen("up")
    try:
        _wait(env, proc, 4)
        manifest(active, T2, "in_progress", "pending", extra="{broken\n")
        _wait(env, proc, 6)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    env.run("sync")
    assert events(env) == EXPECTED[:6]


def _wait(env: Env, proc: Any, n: int) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, env.log("up")
        try:
            got = env.json("plans")["plans"]
        except (AssertionError, json.JSONDecodeError):
            got = []
        if got and len(got[0]["events"]) >= n:
            return
        assert time.monotonic() < deadline, env.log("up")
        time.sleep(0.3)
