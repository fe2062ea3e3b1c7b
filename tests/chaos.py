"""Chaos runs: `usagectl sync` while the producer, the processor or the hub is SIGKILLed at
random moments, then restarted; the result must equal the ground truth and a clean replay.

Used by tests/test_chaos.py (CI-sized) and tests/bench/bench_chaos.py (longer).
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import Env, NatsServer
from corpus import generate


@dataclass
class ChaosReport:
    kills: dict[str, int] = field(default_factory=lambda: {"producer": 0, "processor": 0,
                                                           "hub": 0})  # fmt: skip
    rounds: int = 0
    failed_syncs: int = 0

    @property
    def total(self) -> int:
        return sum(self.kills.values())


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def _children_once_started(proc: subprocess.Popen[bytes], timeout: float = 60) -> list[int]:
    """The sync's children (its processor), waiting for them: on a busy machine the sync may
    not have started its processor yet when the kill is due."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if children := _children(proc.pid):
            return children
        time.sleep(0.01)
    return []


def _move_some(staging: Path, target: Path, files: list[Path], count: int) -> None:
    for path in files[:count]:
        dest = target / path.relative_to(staging)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, dest)
    del files[:count]


def _kill(env: Env, hub: NatsServer, proc: subprocess.Popen[bytes], victim: str) -> bool:
    if victim == "hub":
        hub.kill()
        hub.start()
        return True
    if proc.poll() is not None:
        return False
    pids = [proc.pid] if victim == "producer" else _children_once_started(proc)
    for pid in pids:
        try:
            Path(f"/proc/{pid}/cmdline").read_bytes()
            import os

            os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            return False
    return bool(pids)


def run_chaos(
    env: Env, hub: NatsServer, staging: Path, *, rounds: int, seed: int, sessions: int,
    min_kills: int = 0,
) -> tuple[ChaosReport, dict[str, Any]]:  # fmt: skip
    """Feed the corpus in ``rounds`` slices; during each slice's sync, kill something. A kill
    that finds its victim already gone does not count: rounds go on (bounded) until
    ``min_kills`` landed."""
    truth = generate(staging, seed=seed, sessions=sessions, days=8)
    files = sorted((staging / "projects").rglob("*.jsonl"))
    random.Random(seed).shuffle(files)
    rng = random.Random(seed + 1)
    report = ChaosReport()
    per_round = max(1, len(files) // rounds + 1)
    while (
        files or report.rounds < rounds or (report.total < min_kills and report.rounds < 3 * rounds)
    ):
        report.rounds += 1
        _move_some(staging, env.claude, files, per_round)
        proc = env.popen("sync")
        time.sleep(rng.uniform(0.05, 0.7))
        victim = rng.choice(["producer", "processor", "hub"])
        if _kill(env, hub, proc, victim):
            report.kills[victim] += 1
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"sync hung after killing the {victim}") from None
        report.failed_syncs += proc.returncode != 0
    env.run("sync", timeout=180)
    return report, truth


def reports(env: Env) -> dict[str, object]:
    return {r: json.loads(env.run(r, "--json", "-z", "UTC").stdout)
            for r in ("daily", "session", "blocks")}  # fmt: skip
