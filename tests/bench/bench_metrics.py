"""What one `/metrics` scrape costs on a year of history (issue 16: <= 50 ms).

    .venv/bin/python tests/bench/bench_metrics.py [--db PATH] [--responses 1200000] [--runs 20]

Builds (once; kept at --db for the next run) a read model of a YEAR of history through the
processor's own write path (processors.store.apply_batch): 365 days, 100 projects, 3 machines,
4 models, --responses responses in sessions of 200. Then times, in this process and on one
read-only connection each, like the server's worker thread does:

- baseline: the sums the counters need, grouped from the 15-minute rollups (what a scrape
  would cost without the all-time totals table), and `daily --json`'s builder;
- the whole scrape (every family, the text rendered): the first one (every label set
  formatted), one with nothing new, and one after 200 new responses were applied (what a
  scrape costs while someone works);
- the same scrape over HTTP from a running `usagectl serve` (no hub needed for the read model,
  but serve wants one: an embedded one is started and stopped).

Figures are medians (and the worst) of --runs runs.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any
from zoneinfo import ZoneInfo

from msgspec.structs import replace
from usagectl.processors import readmodel
from usagectl.processors.app.queries import UsageQuery
from usagectl.processors.app.settings import load_settings
from usagectl.processors.app.usage_reports import period_report
from usagectl.processors.schema import CONSUMER
from usagectl.processors.store import apply_batch, last_seq, open_store, refresh
from usagectl.projections.blocks import session_ms
from usagectl.projections.events import Source, Usage
from usagectl.web.api import ServerState
from usagectl.web.metrics import Scrape, exposition
from usagectl.web.metrics_counters import CounterText

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ports import free_port

USAGECTL = str(Path(sys.executable).parent / "usagectl")
MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101", "claude-haiku-4-5-20251001",
          "claude-opus-4-1-20250805")  # fmt: skip
MACHINES = ("laptop", "desktop", "ci-runner")
BATCH = 5_000


def _usages(n: int, end: datetime) -> list[Usage]:
    """Sessions of 200 responses, each in one project on one machine with a main model and
    some haiku subagent calls, spread evenly over the year."""
    r = Random(16)
    start = end - timedelta(days=365)
    span = (end - start).total_seconds()
    out = []
    for i in range(n):
        if i % 200 == 0:
            project = f"/work/project-{r.randrange(100):03d}"
            machine, main = MACHINES[r.randrange(3)], MODELS[r.randrange(4)]
        model = MODELS[2] if r.random() < 0.2 else main
        out.append(Usage(
            event_id=f"e{i}", ts=start + timedelta(seconds=span * i / n), machine=machine,
            account="default", project=project, project_dir=project.replace("/", "-"),
            session_id=f"s{i // 200}", source=Source(f"/bench/{i // 200}.jsonl", i),
            message_id=f"msg_{i}", request_id=f"req_{i}", model=model,
            input=r.randrange(1, 50), output=r.randrange(10, 2000),
            cache_write_5m=r.randrange(0, 3000), cache_read=r.randrange(0, 40_000),
        ))  # fmt: skip
    return out


async def _build(db: Path, n: int) -> None:
    events = _usages(n, datetime.now(UTC) - timedelta(minutes=30))
    store = await open_store(db)
    try:
        for i in range(0, n, BATCH):
            await apply_batch(store, CONSUMER, events[i : i + BATCH], seq=i // BATCH + 1)
        await refresh(store, session_ms(5.0))
    finally:
        await store.close()


async def _more(db: Path) -> None:
    """200 new responses now, in one live session: what the processor applies while someone
    works."""
    now = datetime.now(UTC)
    store = await open_store(db)
    try:
        seq = await last_seq(store, CONSUMER) + 1
        fresh = [
            replace(u, event_id=f"more-{seq}-{i}", message_id=f"more-{seq}-{i}",
                    ts=now - timedelta(seconds=200 - i))
            for i, u in enumerate(_usages(200, now))
        ]  # fmt: skip
        await apply_batch(store, CONSUMER, fresh, seq=seq)
        await refresh(store, session_ms(5.0))
    finally:
        await store.close()


def _timed(work: Callable[[], Any], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        work()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), max(times)


def _grouped_rollups(db: Path) -> None:
    conn = readmodel.open_read(db)
    try:
        conn.execute(
            "SELECT account, machine, project, model, sum(input), sum(output), "
            "sum(cache_write_5m), sum(cache_write_1h), sum(cache_read), sum(cost_auto), "
            "sum(entries) FROM rollup GROUP BY account, machine, project, model"
        ).fetchall()
    finally:
        conn.close()


def _daily(db: Path) -> None:
    p = UsageQuery(timezone=ZoneInfo("UTC"))
    conn = readmodel.open_read(db)
    try:
        period_report(conn, "daily", p)
    finally:
        conn.close()


def _over_http(home: Path, runs: int) -> tuple[float, float, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USAGECTL_", "CLAUDE"))}
    env.update(USAGECTL_HOME=str(home), HOME=str(home / "user"), CLAUDE_CONFIG_DIR=str(home / "c"))
    proc = subprocess.Popen([USAGECTL, "serve", "--port", str(port), "--rate-limit", "0"],
                            env=env, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                size = len(_get(port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        median, worst = _timed(lambda: _get(port), runs)
        return median, worst, size
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _get(port: int) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"/metrics answered {r.status}: {body[:200]!r}")
        return body
    finally:
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", type=Path, help="read model to build once and reuse")
    ap.add_argument("--responses", type=int, default=1_200_000)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    db = args.db or home / "usage.db"
    if not db.exists():
        t0 = time.perf_counter()
        asyncio.run(_build(db, args.responses))
        print(f"built a year's read model: {args.responses:,} responses in "
              f"{time.perf_counter() - t0:.0f} s -> {db}")  # fmt: skip
    if db != home / "usage.db":
        (home / "usage.db").symlink_to(db.resolve())
    os.environ["USAGECTL_HOME"] = str(home)
    settings = load_settings()
    conn = readmodel.open_read(db)
    rollups = conn.execute("SELECT count(*) FROM rollup").fetchone()[0]
    totals = conn.execute("SELECT count(*) FROM usage_totals").fetchone()[0]
    conn.close()
    print(f"read model: {db.stat().st_size / 1e6:.0f} MB, {rollups:,} rollup rows, "
          f"{totals:,} label sets")  # fmt: skip
    state = ServerState(settings, None, lambda: False)

    def scrape(counters: CounterText) -> bytes:
        now = int(time.time() * 1000)
        return exposition(state, Scrape(now, True, home / "no-alerts.db", None), counters)

    warm = CounterText()
    for label, work in (
        ("baseline: counters grouped from rollups", lambda: _grouped_rollups(db)),
        ("baseline: daily --json builder", lambda: _daily(db)),
        ("first scrape (every label set formatted)", lambda: scrape(CounterText())),
        ("scrape, in process (changed sets formatted)", lambda: scrape(warm)),
    ):
        median, worst = _timed(work, args.runs)
        print(f"{label:<44} median {median:7.1f} ms   worst {worst:7.1f} ms")
    times = []
    for _ in range(args.runs):
        asyncio.run(_more(db))
        t0 = time.perf_counter()
        scrape(warm)
        times.append((time.perf_counter() - t0) * 1000)
    print(f"{'scrape after 200 new responses':<44} median {statistics.median(times):7.1f} ms   "
          f"worst {max(times):7.1f} ms")  # fmt: skip
    median, worst, size = _over_http(home, args.runs)
    print(f"{'scrape over HTTP (usagectl serve)':<44} median {median:7.1f} ms   worst "
          f"{worst:7.1f} ms   ({size / 1024:.0f} KiB)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
