"""Load: N producers on loopback, sustained, into one processor (DESIGN §7: no loss, no
duplicates, bounded lag).

    .venv/bin/python tests/bench/bench_load.py [--producers 100] [--rate 10] [--duration 60]
        [--shared-connection]

One nats-server (the venv's binary, loopback, JetStream) and one real `usagectl processor`
process. The producers are tasks in this one process ("tasks with distinct machine ids"), each
the library's Producer + live.follow (inotify watcher and sweep) over its own transcript root,
with its own Checkpoints and machine id and, unless --shared-connection, its own connection.
Each appends `--rate` assistant lines per second to its transcript for `--duration` seconds.
Every second the lag is sampled: stream last seq minus the read model's tracking seq (messages)
and lines written minus ledger rows (end to end). Never reads this machine's Claude data.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from random import Random
from statistics import mean

import anyio.to_thread
from usagectl.processors.bus import BusSettings, connect, ensure_streams, stream_identity
from usagectl.producers.checkpoints import Checkpoints
from usagectl.producers.file_watch import follow
from usagectl.producers.producer import Producer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from conftest import start_server

USAGECTL = str(Path(sys.executable).parent / "usagectl")
LINE = (
    '{{"type":"assistant","timestamp":"{ts}","sessionId":"load-{i}","cwd":"/load/{i}",'
    '"message":{{"id":"msg_load_{i}_{n}","model":"claude-sonnet-4-5-20250929","usage":'
    '{{"input_tokens":3,"output_tokens":{out},"cache_read_input_tokens":1000}}}},'
    '"requestId":"req_load_{i}_{n}"}}\n'
)


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def start_processor(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as f:
        return subprocess.Popen([USAGECTL, "processor"], env=env, stdout=f, stderr=f)


def read_model(db: Path) -> tuple[int, int] | None:
    """Tracking seq and ledger rows of the processor's read model (None: not readable now)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            seq = conn.execute("SELECT max(stream_seq) FROM tracking").fetchone()[0] or 0
            rows = conn.execute("SELECT count(*) FROM ledger").fetchone()[0]
            return int(seq), int(rows)
        finally:
            conn.close()
    except sqlite3.OperationalError as err:
        print(f"read model: {err}", file=sys.stderr)
        return None


async def write(path: Path, i: int, rate: float, count: int, t0: float, out: list[int]) -> float:
    """Append ``count`` lines at ``rate`` per second on a fixed schedule (no drift)."""
    r = Random(i)
    loop = asyncio.get_running_loop()
    for n in range(count):
        delay = t0 + n / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tokens = r.randint(1, 2000)
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        with path.open("a") as f:
            f.write(LINE.format(ts=ts, i=i, n=n, out=tokens))
        out[i] += tokens
        out[-1] += 1
    return loop.time()


async def bench(a: argparse.Namespace, tmp: Path) -> dict[str, float | int | str]:
    # Each awatch holds an anyio worker thread while it waits; separate processes would each
    # have their own limit of 40, so one process with N producers needs N.
    anyio.to_thread.current_default_thread_limiter().total_tokens = a.producers + 40
    hub = start_server(tmp)
    bus = BusSettings(url=hub.url)
    db, proc, ok = tmp / "usagectl" / "usage.db", None, False
    conns = []
    try:
        admin = await connect(bus, service=True)
        conns.append(admin)
        js_admin = admin.jetstream()
        await ensure_streams(js_admin, bus)
        (tmp / "home").mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("USAGECTL_", "CLAUDE"))}
        env.update(HOME=str(tmp / "home"), CLAUDE_CONFIG_DIR=str(tmp / "home" / "none"),
                   USAGECTL_HOME=str(tmp / "usagectl"), USAGECTL_NATS_URL=hub.url)  # fmt: skip
        proc = start_processor(env, tmp / "processor.log")
        producers, paths = [], []
        for i in range(a.producers):
            root = tmp / f"p{i:03d}" / "claude"
            path = root / "projects" / f"-load-{i}" / f"load-{i}.jsonl"
            path.parent.mkdir(parents=True)
            path.touch()
            if a.shared_connection and conns[1:]:
                js = conns[1].jetstream(publish_async_max_pending=4000)
            else:
                conns.append(await connect(bus, service=True))
                js = conns[-1].jetstream(publish_async_max_pending=4000)
            cp = Checkpoints(tmp / f"p{i:03d}" / "producer.db")
            cp.trust(*await stream_identity(js, bus))
            producers.append(Producer(js, bus.prefix, [root], f"load-{i:03d}", "default", cp))
            paths.append(path)
        stop = asyncio.Event()
        followers = [asyncio.create_task(follow(p, stop)) for p in producers]
        await asyncio.sleep(2.0)  # watchers armed, processor connected
        written = [0] * (a.producers + 1)  # output tokens per producer, then line count
        per = int(a.rate * a.duration)
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.2
        writers = [
            asyncio.create_task(write(p, i, a.rate, per, t0 + i / a.producers / a.rate, written))
            for i, p in enumerate(paths)
        ]
        pids = {"producers (this process)": os.getpid(), "processor": proc.pid}
        pids["nats-server"] = hub.process.pid
        cpu0, w0 = {k: cpu_ticks(p) for k, p in pids.items()}, loop.time()
        lag_msgs, lag_lines = [], []
        while not all(w.done() for w in writers):
            await asyncio.sleep(1.0)
            info = await js_admin.stream_info(bus.stream)
            if (got := read_model(db)) is None:
                continue
            seq, rows = got
            lag_msgs.append(info.state.last_seq - seq)
            lag_lines.append(written[-1] - rows)
        wall = max(await asyncio.gather(*writers)) - t0
        hz, span = os.sysconf("SC_CLK_TCK"), loop.time() - w0
        cpu = {k: (cpu_ticks(p) - cpu0[k]) / hz / span for k, p in pids.items()}
        t_end, lines = time.perf_counter(), written[-1]
        while time.perf_counter() - t_end < a.catchup_timeout:
            info = await js_admin.stream_info(bus.stream)
            seq, rows = read_model(db) or (0, 0)
            if rows >= lines and seq >= info.state.last_seq:
                break
            await asyncio.sleep(0.05)
        catchup = time.perf_counter() - t_end
        stop.set()
        await asyncio.gather(*followers, return_exceptions=True)
        for p in producers:
            p.checkpoints.close()
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        q = conn.execute
        out_sum = q("SELECT coalesce(sum(output), 0) FROM rollup").fetchone()[0]
        counted = q("SELECT count(*) FROM ledger WHERE counted").fetchone()[0]
        rows = q("SELECT count(*) FROM ledger").fetchone()[0]
        by_machine = dict(q("SELECT machine, count(*) FROM ledger GROUP BY machine").fetchall())
        conn.close()
        expect = {f"load-{i:03d}": per for i in range(a.producers)}
        info = await js_admin.stream_info(bus.stream)
        ok = out_sum == sum(written[:-1]) and counted == rows == lines and by_machine == expect
    finally:
        for c in conns:
            with contextlib.suppress(Exception):
                await c.close()
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        hub.kill()
        if not ok:
            print((tmp / "processor.log").read_text()[-3000:], file=sys.stderr)
    tens = range(0, len(lag_msgs), 10)
    return {
        "producers": a.producers, "rate": a.rate, "duration_s": round(wall, 1),
        "lines_written": lines, "stream_messages": info.state.messages,
        "ledger_rows": rows, "ledger_counted": counted,
        "output_written": sum(written[:-1]), "output_in_rollup": out_sum,
        "per_machine_exact": by_machine == expect, "verdict": "ok" if ok else "MISMATCH",
        "throughput_lines_s": round(lines / wall, 1), "catchup_s": round(catchup, 2),
        "lag_msgs_max": max(lag_msgs), "lag_msgs_mean": round(mean(lag_msgs), 1),
        "lag_lines_max": max(lag_lines), "lag_lines_mean": round(mean(lag_lines), 1),
        "lag_msgs_max_per_10s": " ".join(str(max(lag_msgs[j : j + 10])) for j in tens),
        "lag_max_ms_at_write_rate": round(1000 * max(lag_lines) / (lines / wall)),
    } | {f"cpu {k} (% core)": round(100 * v, 1) for k, v in cpu.items()}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--producers", type=int, default=100)
    ap.add_argument("--rate", type=float, default=10.0, help="lines per second per producer")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of appending")
    ap.add_argument("--shared-connection", action="store_true", help="one connection for all")
    ap.add_argument("--catchup-timeout", type=float, default=120.0)
    ap.add_argument("--keep", type=Path, help="work here (a new directory) and keep it")
    a = ap.parse_args()
    with contextlib.ExitStack() as stack:
        if a.keep:
            a.keep.mkdir(parents=True)
        tmp = a.keep or stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-load-"))
        res = asyncio.run(bench(a, Path(tmp)))
    width = max(map(len, res))
    for k, v in res.items():
        num = isinstance(v, int | float) and not isinstance(v, bool)
        print(f"{k:{width}}  {v:,}" if num else f"{k:{width}}  {v}")
    print("targets: every line counted exactly once; lag bounded (does not grow with time)")
    return 0 if res["verdict"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
