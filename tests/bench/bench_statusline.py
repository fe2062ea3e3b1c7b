"""Benchmark `usagectl statusline` as Claude Code runs it: whole process, stdin JSON in, one line
out, against a synced read model with an active block (issue 4: p95 under 100 ms).

    .venv/bin/python tests/bench/bench_statusline.py [--sessions 400] [--days 60] [--n 50]
        [--corpus DIR] [--out results.json]

Not a pytest test. Never reads this machine's Claude data: HOME, CLAUDE_CONFIG_DIR and
USAGECTL_HOME are temporary and USAGECTL_NATS_URL is dropped, so `sync` starts (and stops) the
embedded nats-server; the statusline itself never talks to it. Bytecode is written by a warm-up
run first (PYTHONDONTWRITEBYTECODE is dropped), as an installed usagectl would have it.
Scenarios: Claude.ai input with rate_limits (spooled), API-key input without, garbage stdin.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median, quantiles
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from corpus import generate

USAGECTL = str(Path(sys.executable).parent / "usagectl")
SESSION = "bench-now"


def active_lines(root: Path, now: float) -> None:
    """A session with three responses in the last 40 minutes: an active block with a burn
    rate, whatever the generated history holds."""
    folder = root / "projects" / "-work-bench"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (ago_min, out) in enumerate(((40, 20_000), (20, 30_000), (5, 15_000))):
        ts = datetime.fromtimestamp(now - ago_min * 60, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        lines.append(json.dumps({
            "type": "assistant", "timestamp": ts, "sessionId": SESSION, "cwd": "/work/bench",
            "message": {"id": f"msg_bench_{i}", "model": "claude-sonnet-4-5-20250929",
                        "usage": {"input_tokens": 500, "output_tokens": out,
                                  "cache_read_input_tokens": 1000}},
            "requestId": f"req_bench_{i}",
        }))  # fmt: skip
    (folder / f"{SESSION}.jsonl").write_text("\n".join(lines) + "\n")


def status_input(now: float, rate_limits: bool) -> bytes:
    data: dict[str, Any] = {
        "session_id": SESSION,
        "transcript_path": "/tmp/x.jsonl",
        "model": {"id": "claude-opus-4-1", "display_name": "Opus 4.1"},
        "workspace": {"current_dir": "/work/bench", "project_dir": "/work/bench"},
        "cost": {"total_cost_usd": 0.42},
    }
    if rate_limits:
        data["rate_limits"] = {
            "five_hour": {"used_percentage": 23.5, "resets_at": int(now) + 3 * 3600},
            "seven_day": {"used_percentage": 41.2, "resets_at": int(now) + 4 * 86400},
        }
    return json.dumps(data).encode()


def timed(env: dict[str, str], stdin: bytes, n: int) -> tuple[list[float], str]:
    times, line = [], ""
    for _ in range(n):
        t0 = time.perf_counter()
        p = subprocess.run([USAGECTL, "statusline"], input=stdin, env=env, capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
        if p.returncode != 0:
            raise SystemExit(f"statusline failed: {p.stderr.decode()}")
        line = p.stdout.decode().strip()
    return times, line


def summary(times: list[float]) -> dict[str, float]:
    q = quantiles(times, n=20, method="inclusive")
    return {"p50_ms": round(median(times), 1), "p95_ms": round(q[18], 1),
            "max_ms": round(max(times), 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sessions", type=int, default=400)
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--n", type=int, default=50)
    p.add_argument("--corpus", type=Path, help="generate here once and reuse")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-statusline-"))
    claude = args.corpus or work / "claude"
    now = time.time()
    if not (claude / "projects").exists():
        start = datetime.fromtimestamp(now - args.days * 86400, UTC).strftime("%Y-%m-%d")
        generate(claude, seed=4, sessions=args.sessions, days=args.days, start=start)
    active_lines(claude, now)
    (work / "home").mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("USAGECTL_", "CLAUDE")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(HOME=str(work / "home"), CLAUDE_CONFIG_DIR=str(claude),
               USAGECTL_HOME=str(work / "usagectl"), USAGECTL_MACHINE="bench")  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run([USAGECTL, "sync"], env=env, check=True, capture_output=True)
    print(f"synced {claude} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    results: dict[str, Any] = {"n": args.n, "sessions": args.sessions, "days": args.days}
    scenarios = (("rate_limits", status_input(now, True)), ("no_rate_limits",
                 status_input(now, False)), ("garbage", b"not json"))  # fmt: skip
    for name, stdin in scenarios:
        timed(env, stdin, 2)  # warm-up: bytecode written, page cache hot
        times, line = timed(env, stdin, args.n)
        results[name] = summary(times) | {"line": line}
        print(f"{name:15} p50 {results[name]['p50_ms']:6.1f} ms  p95 "
              f"{results[name]['p95_ms']:6.1f} ms  max {results[name]['max_ms']:6.1f} ms  "
              f"| {line}")  # fmt: skip
    bare = [0.0] * args.n
    for i in range(args.n):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        bare[i] = (time.perf_counter() - t0) * 1000
    results["python_startup"] = summary(bare)
    print(f"{'python -c pass':15} p50 {results['python_startup']['p50_ms']:6.1f} ms  p95 "
          f"{results['python_startup']['p95_ms']:6.1f} ms (the floor)")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)  # sync stopped its embedded hub on the way out
    return 0


if __name__ == "__main__":
    sys.exit(main())
