"""Idle cost (DESIGN §7: idle producer < 1% CPU; discovery of 1,000 session files on restart
< 100 ms).

    .venv/bin/python tests/bench/bench_idle.py [--window 60] [--sessions 40] [--files 1000]
        [--runs 5] [--skip-idle] [--skip-discovery]

(a) `usagectl up` on a small generated corpus; once backfill is done and the read model is
    still, CPU time (utime + stime from /proc/<pid>/stat, all threads) of `up`, of its
    processor child and of the embedded nats-server over `--window` seconds, as % of one core.
(b) About `--files` session files, synced once; then a second `usagectl sync` with nothing new
    (whole process, median of `--runs`), and in-process just the restart discovery: load the
    checkpoints, `session_files` over the root, `plan_read` for every file against them.
Never reads this machine's Claude data: HOME, CLAUDE_CONFIG_DIR and USAGECTL_HOME are temporary
and USAGECTL_NATS_URL is dropped (usagectl starts its embedded hub).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from usagectl.producers.checkpoints import Checkpoints
from usagectl.producers.discovery import session_files
from usagectl.producers.tailer import plan_read

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from corpus import generate

USAGECTL = str(Path(sys.executable).parent / "usagectl")
HZ = os.sysconf("SC_CLK_TCK")


def make_env(tmp: Path, claude: Path) -> dict[str, str]:
    (tmp / "home").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USAGECTL_", "CLAUDE"))}
    env.update(HOME=str(tmp / "home"), CLAUDE_CONFIG_DIR=str(claude),
               USAGECTL_HOME=str(tmp / "usagectl"), USAGECTL_MACHINE="bench", TZ="UTC")  # fmt: skip
    return env


def ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def query(db: Path, sql: str) -> tuple[int, ...] | None:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return tuple(conn.execute(sql).fetchone())
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return None


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(") ", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def idle(a: argparse.Namespace, tmp: Path) -> dict[str, float]:
    claude = tmp / "claude"
    truth = generate(claude, seed=11, sessions=a.sessions, days=5)
    env = make_env(tmp, claude)
    home = Path(env["USAGECTL_HOME"])
    with (tmp / "up.log").open("ab") as log:
        up = subprocess.Popen([USAGECTL, "up"], env=env, stdout=log, stderr=log)
    try:
        t0, last, still = time.monotonic(), None, time.monotonic()
        files_sql = "SELECT count(*), coalesce(sum(size - offset), 0) FROM files"
        while True:  # backfill done, then the read model unchanged for 3 s
            if up.poll() is not None or time.monotonic() - t0 > 300:
                tail = (tmp / "up.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"`usagectl up` did not settle (exit {up.poll()}):\n{tail}")
            time.sleep(0.2)
            seen = query(home / "producer.db", files_sql)
            model = query(home / "usage.db", "SELECT (SELECT max(stream_seq) FROM tracking), "
                          "(SELECT count(*) FROM blocks_dirty)")  # fmt: skip
            if seen != (truth["files"], 0) or model is None or model[1]:
                still = time.monotonic()
            elif model != last:
                last, still = model, time.monotonic()
            elif time.monotonic() - still > 3:
                break
        backfill = time.monotonic() - t0
        time.sleep(2)
        server = json.loads((home / "nats" / "server.json").read_text())["pid"]
        kids = [p for p in children(up.pid) if p != server]
        pids = {"usagectl up (producer)": up.pid, "processor child": kids[0]}
        pids["nats-server (embedded)"] = server
        before, w0 = {k: ticks(p) for k, p in pids.items()}, time.monotonic()
        time.sleep(a.window)
        span = time.monotonic() - w0
        cpu = {k: 100 * (ticks(p) - before[k]) / HZ / span for k, p in pids.items()}
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=30)
    mb = truth["bytes"] / 1e6
    print(f"(a) idle, {truth['files']} files / {mb:.1f} MB backfilled in {backfill:.1f} s; "
          f"CPU over {span:.0f} s (% of one core; target producer < 1%):")  # fmt: skip
    for k, v in cpu.items():
        print(f"    {k:26} {v:6.2f} %")
    return cpu


def discovery(a: argparse.Namespace, tmp: Path) -> dict[str, float]:
    claude = tmp / "claude"
    sessions = round(a.files / 1.32)  # ~1.32 files per session at 20 kB per file
    truth = generate(claude, seed=12, sessions=sessions, days=10, target_bytes=a.files * 20_000)
    env = make_env(tmp, claude)
    home = Path(env["USAGECTL_HOME"])
    t0 = time.perf_counter()
    subprocess.run([USAGECTL, "sync"], env=env, check=True, capture_output=True)
    first = time.perf_counter() - t0
    again = []
    for _ in range(a.runs + 1):  # the first one warms the page cache
        t0 = time.perf_counter()
        subprocess.run([USAGECTL, "sync"], env=env, check=True, capture_output=True)
        again.append(time.perf_counter() - t0)
    again = again[1:]
    steps: dict[str, list[float]] = {"load checkpoints": [], "session_files": [], "plan_read": []}
    for _ in range(a.runs):
        t0 = time.perf_counter()
        cp = Checkpoints(home / "producer.db")
        known = cp.load()
        t1 = time.perf_counter()
        files = session_files(claude)
        t2 = time.perf_counter()
        todo = [f for f in files if plan_read(str(f), known.get(str(f))) is not None]
        t3 = time.perf_counter()
        cp.close()
        for k, v in zip(steps, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            steps[k].append(v)
    if len(known) != truth["files"] or len(files) != truth["files"] or todo:
        raise SystemExit(f"unexpected: {len(known)} known, {len(files)} found, {len(todo)} new")
    res = {k: 1000 * median(v) for k, v in steps.items()}
    res["discovery total"] = sum(res.values())
    res["usagectl sync, nothing new"] = 1000 * median(again)
    mb = truth["bytes"] / 1e6
    print(f"(b) restart discovery, {truth['files']:,} known session files ({mb:.1f} MB; "
          f"first sync {first:.1f} s), median of {a.runs}:")  # fmt: skip
    for k, v in res.items():
        print(f"    {k:28} {v:8.1f} ms")
    print("    target: discovery < 100 ms")
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--window", type=float, default=60.0, help="idle seconds measured")
    ap.add_argument("--sessions", type=int, default=40, help="corpus size for (a)")
    ap.add_argument("--files", type=int, default=1000, help="about this many files for (b)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-idle", action="store_true")
    ap.add_argument("--skip-discovery", action="store_true")
    a = ap.parse_args()
    if not a.skip_idle:
        with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
            idle(a, Path(tmp))
    if not a.skip_discovery:
        with tempfile.TemporaryDirectory(prefix="bench-discovery-") as tmp:
            discovery(a, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
