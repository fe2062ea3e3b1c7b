"""Golden outputs: every report's ``--json``, every ``/api/...`` answer of ``usagectl serve`` and
``watch --json``'s first frame, on one generated world (fixed seeds, history in September 2026).

    python tests/golden.py [OUT]     # (re)record into tests/data/golden/ (or OUT)

tests/test_golden.py builds the same world and compares byte for byte. The few values that move
with the clock or the run (MASKED) are replaced by ``"<masked>"`` on both sides first:
``lastBeat``/``ago``/``online`` and the like (heartbeats happen at run time), the hook-fed
session's times (its transcript is written at run time), ``/api/health``'s sequence and the
server's ``now``; everything else is compared as bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from conftest import USAGECTL, Env, make_env, start_server
from corpus import generate
from hookdata import recording, send
from serving import Served, serve

GOLDEN = Path(__file__).parent / "data" / "golden"
START = "2026-09-01"

CLI: dict[str, tuple[str, ...]] = {
    "daily": ("daily",),
    "daily-ny": ("daily", "-z", "America/New_York"),
    "daily-range": ("daily", "-z", "UTC", "--since", "2026-09-03", "--until", "20260905"),
    "daily-desc-calculate": ("daily", "-z", "Pacific/Kiritimati", "-o", "desc", "-m", "calculate"),
    "daily-machine": ("daily", "--machine", "desktop"),
    "daily-project": ("daily", "--project", "hooked"),
    "daily-breakdown": ("daily", "--breakdown"),
    "weekly": ("weekly",),
    "weekly-monday-display": ("weekly", "--start-of-week", "monday", "--mode", "display"),
    "monthly": ("monthly", "-z", "Asia/Tokyo"),
    "monthly-desc": ("monthly", "--order", "desc"),
    "session": ("session",),
    "session-limit": ("session", "--limit", "3", "-z", "Asia/Tokyo"),
    "session-machine-since": ("session", "--machine", "desktop", "--since", "2026-09-02"),
    "blocks": ("blocks",),
    "blocks-machine-desc-max": ("blocks", "--machine", "desktop", "-o", "desc", "-t", "max"),
    "blocks-length": ("blocks", "--session-length", "3", "--until", "2026-09-04", "-m", "display"),
    "blocks-limit": ("blocks", "--token-limit", "500000", "--since", "2026-09-03"),
    "tools": ("tools",),
    "tools-session": ("tools", "--project", "hooked", "--session", "0d6c8f7e-hooks-session"),
    "tools-nowhere": ("tools", "--machine", "nowhere"),
    "plans": ("plans",),
    "machines": ("machines",),
    "alerts": ("alerts",),
    "trends": ("trends", "--days", "3660", "-z", "UTC", "--day", "2026-09-03"),
}
# Commands that are not `--json` reports but write JSON.
RAW: dict[str, tuple[str, ...]] = {
    "export-day-json": ("export", "--format", "json"),
    "export-session-jsonl": ("export", "--format", "jsonl", "--by", "session", "-z", "UTC"),
    "export-model-csv": ("export", "--by", "model", "--from", "2026-09-02", "--to", "2026-09-04"),
    "export-machine-csv": ("export", "--by", "machine", "--machine", "desktop"),
    "export-project-json": ("export", "--by", "project", "--format", "json", "-m", "calculate"),
}
API: dict[str, tuple[str, dict[str, str]]] = {
    "api-daily": ("/api/daily", {}),
    "api-daily-filters": (
        "/api/daily",
        {"timezone": "UTC", "since": "2026-09-03", "until": "20260905", "order": "desc"},
    ),
    "api-weekly": ("/api/weekly", {"start_of_week": "monday", "mode": "display"}),
    "api-monthly": ("/api/monthly", {"timezone": "Asia/Tokyo"}),
    "api-sessions": ("/api/sessions", {"machine": "desktop"}),
    "api-blocks": ("/api/blocks", {"token_limit": "max", "order": "desc"}),
    "api-blocks-length": ("/api/blocks", {"session_length": "3", "until": "2026-09-04"}),
    "api-tools": ("/api/tools", {}),
    "api-plans": ("/api/plans", {}),
    "api-limits": ("/api/limits", {}),
    "api-machines": ("/api/machines", {}),
    "api-alerts": ("/api/alerts", {"limit": "5"}),
    "api-trends": ("/api/trends", {"days": "3660", "timezone": "UTC", "day": "2026-09-03"}),
    "api-export-csv": ("/api/export", {"by": "session", "timezone": "UTC"}),
    "api-export-json": ("/api/export", {"format": "json", "by": "model"}),
    "api-dashboard": ("/api/dashboard", {"timezone": "UTC"}),
    "api-health": ("/api/health", {}),
    "api-openapi": ("/api/openapi.json", {}),
    "api-bad-date": ("/api/daily", {"since": "yesterday"}),
    "api-bad-zone": ("/api/blocks", {"timezone": "Mars/Base"}),
    "api-unknown": ("/api/nothing", {}),
}
# Values that move with the clock or the run, wherever they appear: heartbeats and what follows
# from them (online/offline, seconds since), the plan files' times and ids (written at run time,
# under the run's directory), tool durations (hook pairs timed at run time), the server's and
# trends' ``now`` and the windows it starts (``from``/``split``/``elapsedDays``), hub sequences.
# The run's temporary directory reads ``<root>`` in every output.
MASKED = frozenset({
    "lastHeartbeat", "lastSeen", "secondsSinceHeartbeat", "online", "offline",
    "createdAt", "optimizedAt", "startedAt", "ts", "eventId",
    "p50DurationMs", "p95DurationMs",
    "now", "from", "split", "elapsedDays", "seq", "readModelSeq",
})  # fmt: skip
MASKED_VALUES = frozenset({"online", "offline"})  # a machine's status


def build(root: Path) -> tuple[Env, Any]:
    """Two machines' September history, hooks and a plan, synced into one read model."""
    hub = start_server(root)
    desktop = make_env(root / "desktop", hub.url)
    desktop.machine = "desktop"
    generate(desktop.claude, seed=22, sessions=6, days=5, start=START)
    desktop.run("sync")
    env = make_env(root / "laptop", hub.url)
    generate(env.claude, seed=21, sessions=14, days=6, start=START)
    for data in recording():
        send(USAGECTL, env.vars(), data)
    plan = root / "proj" / "dev" / "active" / "auth"
    plan.mkdir(parents=True)
    (plan / "plan.md").write_text("# Auth\n")
    feature = {"id": "F001", "file": "prompts/01.md", "status": "in_progress",
               "description": "login", "depends_on": []}  # fmt: skip
    (plan / "manifest.jsonl").write_text(json.dumps(feature) + "\n")
    env.run("sync", "--plans", str(root / "proj"))
    return env, hub


def watch_frame(env: Env) -> bytes:
    proc = subprocess.Popen([USAGECTL, "watch", "--json", "-z", "UTC"], env=env.vars(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert proc.stdout is not None
        return proc.stdout.readline()
    finally:
        proc.kill()  # only its first frame matters here
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


@contextmanager
def served(env: Env) -> Iterator[Served]:
    server = serve(env, "--rate-limit", "0")
    try:
        yield server
    finally:
        server.stop()


def record(env: Env) -> dict[str, bytes]:
    """Every output by name, with the run's directory written ``<root>``."""
    return {
        k: v.replace(str(env.root.parent).encode(), b"<root>") for k, v in _outputs(env).items()
    }


def _outputs(env: Env) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name, args in CLI.items():
        out[name] = env.run(*args, "--json").stdout.encode()
    for name, args in RAW.items():
        out[name] = env.run(*args).stdout.encode()
    out["watch-first-frame"] = watch_frame(env)
    with served(env) as server:
        for name, (path, query) in API.items():
            reply = server.request(path, query)
            out[name] = f"{reply.status} {reply.headers.get('content-type')}\n".encode()
            out[name] += reply.body
    return out


def _moves(key: str, value: Any) -> bool:
    return key in MASKED or (key == "status" and value in MASKED_VALUES)


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<masked>" if _moves(k, v) else _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def masked(body: bytes) -> bytes:
    """``body`` with MASKED values replaced; the bytes unchanged when it is not JSON."""
    head, sep, rest = body.partition(b"\n") if body[:1].isdigit() else (b"", b"", body)
    try:
        whole = [json.loads(rest)]
    except ValueError:
        try:  # JSON Lines
            whole = [json.loads(line) for line in rest.splitlines() if line.strip()]
        except ValueError:
            return body  # CSV, text
    if not whole:
        return body
    return head + sep + "\n".join(json.dumps(_mask(x)) for x in whole).encode()


def main(argv: list[str]) -> int:
    import tempfile

    out_dir = Path(argv[0]) if argv else GOLDEN
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env, hub = build(Path(tmp))
        try:
            for name, body in record(env).items():
                (out_dir / f"{name}.out").write_bytes(body)
        finally:
            hub.kill()
    print(f"recorded {len(os.listdir(out_dir))} outputs in {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
