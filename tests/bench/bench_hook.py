"""Benchmark `usagectl hook` as Claude Code runs it: whole process, the event's JSON on stdin,
nothing out, one line appended to the hook spool (issue 7: p95 under 100 ms).

    .venv/bin/python tests/bench/bench_hook.py [--n 50] [--out results.json]

Not a pytest test. Never touches this machine's Claude data or usagectl home: HOME,
CLAUDE_CONFIG_DIR and USAGECTL_HOME are temporary, and USAGECTL_NATS_URL names a port where
nothing listens (the hook never talks to the hub; this shows it). Bytecode is written by a
warm-up run first (PYTHONDONTWRITEBYTECODE is dropped), as an installed usagectl would have it.
Scenarios: PreToolUse (small), PostToolUse with a 200 KB tool output (a big Read), a prompt,
an unknown event, garbage stdin.
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
from pathlib import Path
from typing import Any

from bench_statusline import summary  # same percentile summary for both fast paths

USAGECTL = str(Path(sys.executable).parent / "usagectl")


def base(name: str, **fields: Any) -> dict[str, Any]:
    return {"session_id": "bench-session", "transcript_path": "/tmp/bench.jsonl",
            "cwd": "/work/bench", "permission_mode": "default", "hook_event_name": name,
            **fields}  # fmt: skip


def scenarios() -> list[tuple[str, Any]]:
    big = {
        "type": "text",
        "file": {"filePath": "/work/bench/big.py", "content": "x = 1\n" * 34_000},
    }
    return [
        ("PreToolUse", base("PreToolUse", tool_name="Bash", tool_use_id="toolu_1",
                            tool_input={"command": "pytest -q", "timeout": 60000})),
        ("PostToolUse_200KB", base("PostToolUse", tool_name="Read", tool_use_id="toolu_2",
                                   tool_input={"file_path": "/work/bench/big.py"},
                                   tool_response=big, duration_ms=12)),
        ("UserPromptSubmit", base("UserPromptSubmit", prompt="please fix the tests " * 20,
                                  prompt_id="p-1")),
        ("UnknownEvent", base("SomethingNew", detail={"a": [1, 2, 3]}, flag=True)),
        ("garbage", b"not json at all"),
    ]  # fmt: skip


def encoded(data: Any, i: int) -> bytes:
    """A distinct payload per run (as Claude Code sends), so each run appends its line."""
    if isinstance(data, bytes):
        return data
    return json.dumps({**data, "tool_use_id": f"{data.get('tool_use_id', 't')}-{i}"}).encode()


def timed(env: dict[str, str], data: Any, n: int, offset: int) -> list[float]:
    times = []
    for i in range(n):
        stdin = encoded(data, offset + i)
        t0 = time.perf_counter()
        p = subprocess.run([USAGECTL, "hook"], input=stdin, env=env, capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
        if p.returncode != 0 or p.stdout:
            raise SystemExit(f"hook misbehaved: rc {p.returncode}, stdout {p.stdout[:80]!r}")
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, default=50)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-hook-"))
    (work / "home").mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("USAGECTL_", "CLAUDE")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(HOME=str(work / "home"), CLAUDE_CONFIG_DIR=str(work / "claude"),
               USAGECTL_HOME=str(work / "usagectl"), USAGECTL_MACHINE="bench",
               USAGECTL_NATS_URL="nats://127.0.0.1:1")  # fmt: skip
    results: dict[str, Any] = {"n": args.n}
    offset = 0
    for name, data in scenarios():
        timed(env, data, 2, 10_000_000 + offset)  # warm-up: bytecode written, page cache hot
        times = timed(env, data, args.n, offset)
        offset += args.n
        results[name] = summary(times) | {"stdin_bytes": len(encoded(data, 0))}
        r = results[name]
        print(f"{name:18} p50 {r['p50_ms']:6.1f} ms  p95 {r['p95_ms']:6.1f} ms  "
              f"max {r['max_ms']:6.1f} ms  ({r['stdin_bytes']:,} bytes in)")  # fmt: skip
    spool = work / "usagectl" / "spool" / "hooks.jsonl"
    lines = spool.read_bytes().splitlines() if spool.exists() else []
    results["spooled_lines"] = len(lines)
    results["largest_line_bytes"] = max((len(x) for x in lines), default=0)
    print(f"spooled {len(lines)} lines, largest {results['largest_line_bytes']} bytes")
    bare = []
    for _ in range(args.n):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        bare.append((time.perf_counter() - t0) * 1000)
    results["python_startup"] = summary(bare)
    print(f"{'python -c pass':18} p50 {results['python_startup']['p50_ms']:6.1f} ms  p95 "
          f"{results['python_startup']['p95_ms']:6.1f} ms (the floor)")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
