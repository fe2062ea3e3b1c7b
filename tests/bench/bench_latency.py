"""Append -> `usagectl watch --json` latency on loopback (DESIGN §7: p50 < 100 ms, p99 < 500 ms).

    .venv/bin/python tests/bench/bench_latency.py [--appends 1000] [--interval 0.05]

Starts `usagectl up` (embedded hub, producer, processor) and `usagectl watch --json` on a
temporary HOME / CLAUDE_CONFIG_DIR / USAGECTL_HOME, appends one assistant line at a time to a
transcript and times how long until watch prints a JSON object whose block has that line's
tokens. Never reads this machine's own Claude data. Prints percentiles.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BIN = Path(sys.executable).parent / "usagectl"
LINE = (
    '{{"type":"assistant","timestamp":"{ts}","sessionId":"bench","cwd":"/bench","message":'
    '{{"id":"msg_{n}","model":"claude-sonnet-4-5-20250929","usage":{{"input_tokens":1,'
    '"output_tokens":{out}}}}},"requestId":"req_{n}"}}\n'
)


def read_until(proc: subprocess.Popen[bytes], want_output: int, timeout: float) -> float | None:
    """Seconds until a watch update shows the block's output tokens at ``want_output``."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if not sel.select(timeout=timeout):
            continue
        line = proc.stdout.readline()
        if not line:
            return None
        block = json.loads(line).get("block") or {}
        if block.get("tokenCounts", {}).get("outputTokens") == want_output:
            return time.perf_counter() - start
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--appends", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=0.05)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        transcript = root / "claude" / "projects" / "-bench" / "bench.jsonl"
        transcript.parent.mkdir(parents=True)
        transcript.write_text("")
        (root / "home").mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("USAGECTL_", "CLAUDE"))}
        env.update(HOME=str(root / "home"), CLAUDE_CONFIG_DIR=str(root / "claude"),
                   USAGECTL_HOME=str(root / "usagectl"), TZ="UTC")  # fmt: skip
        up = subprocess.Popen([str(BIN), "up"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(3)
        watch = subprocess.Popen([str(BIN), "watch", "--json", "--refresh", "60"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(2)
        latencies: list[float] = []
        total = 0
        try:
            for n in range(1, args.appends + 1):
                total += n
                ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
                t0 = time.perf_counter()
                with transcript.open("a") as f:
                    f.write(LINE.format(ts=ts, n=n, out=n))
                seen = read_until(watch, total, 5.0)
                if seen is None:
                    print(f"append {n}: not seen within 5 s", file=sys.stderr)
                    continue
                latencies.append(time.perf_counter() - t0)
                time.sleep(args.interval)
        finally:
            for proc in (watch, up):
                proc.terminate()
                proc.wait(timeout=20)
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    print(f"appends seen: {len(latencies)} of {args.appends}")
    print(f"latency append -> watch --json: p50 {q[49] * 1000:.1f} ms, p90 {q[89] * 1000:.1f} ms,"
          f" p99 {q[98] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")  # fmt: skip
    print("targets: p50 < 100 ms, p99 < 500 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
