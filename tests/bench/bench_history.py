"""Scale with history (issue 18): first ingest, reports, replay, footprint and memory on a long
corpus, each beside ccusage 20.0.24 run on the same corpus in the same run.

    .venv/bin/python tests/bench/bench_history.py --corpus /tmp/scale/year \\
        [--generate "--sessions 6000 --target-bytes 1990000000 --days 365 --projects 100
                     --text-scale 0.01 --start 2025-12-01"] [--runs 5] [--ccusage-runs 1]
        [--ccusage BIN] [--out results.json]

The year corpus above is 1.9 GiB with 1.22 million assistant usage lines; the 90-day one is
``--sessions 1500 --target-bytes 1500000000 --days 90 --projects 50 --start 2026-09-01``.
Not a pytest test. Never reads this machine's Claude data: HOME, CLAUDE_CONFIG_DIR and
USAGECTL_HOME are temporary. Times are whole-process wall times (median of --runs, after one
warm-up run); peak RSS is each process's VmHWM sampled from /proc at 20 Hz (the sync process is
the producer; its `processor` child and the embedded nats-server are sampled separately).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from corpus import main as generate_corpus  # noqa: E402

sys.path.insert(0, str(HERE))
from bench_sync import check  # noqa: E402

USAGECTL = str(Path(sys.executable).parent / "usagectl")
CCUSAGE = "/work/tools/ccusage/node_modules/.bin/ccusage"
REPORTS = ("daily", "weekly", "monthly", "session", "blocks")
TOKENS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")
TOTALS = (*TOKENS, "totalTokens")


def _hwm_kb(pid: int) -> int:
    try:
        m = re.search(r"^VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:
        return 0
    return int(m.group(1)) if m else 0


def _role(pid: int, root: int) -> str | None:
    if pid == root:
        return "producer"
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    if b"nats-server" in cmd:
        return "nats-server"
    return "processor" if b"processor" in cmd else None


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int(Path(d, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents[int(d.name)] = ppid
    found, grew = {root}, True
    while grew:
        more = {p for p, pp in parents.items() if pp in found} - found
        found |= more
        grew = bool(more)
    return found


class Peaks(threading.Thread):
    """Peak VmHWM per role among ``root`` and its descendants."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.done, self.mb = root, threading.Event(), dict[str, float]()

    def run(self) -> None:
        while not self.done.is_set():
            for pid in _descendants(self.root):
                role = _role(pid, self.root)
                if role:
                    self.mb[role] = max(self.mb.get(role, 0.0), _hwm_kb(pid) / 1024)
            self.done.wait(0.05)


def run(cmd: list[str], env: dict[str, str], peaks: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        sampler = Peaks(p.pid) if peaks else None
        if sampler:
            sampler.start()
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        if sampler:
            sampler.done.set()
            sampler.join()
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{shlex.join(cmd)} failed:\n{stderr[-2000:]}")
    rss = sampler.mb if sampler else {"self": usage.ru_maxrss / 1024}
    return {"wall": wall, "rss": rss, "out": stdout, "err": stderr}


def timed(cmd: list[str], env: dict[str, str], n: int) -> dict[str, Any]:
    first = run(cmd, env)  # warm: page cache, compiled bytecode
    runs = [run(cmd, env) for _ in range(n)]
    return {"s": median(r["wall"] for r in runs), "mb": max(r["rss"]["self"] for r in runs),
            "out": first["out"]}  # fmt: skip


def day_tokens(report: bytes) -> dict[str, tuple[int, ...]]:
    return {d["date"]: tuple(int(d[k]) for k in TOKENS) for d in json.loads(report)["daily"]}


def _totals(report: bytes) -> dict[str, int]:
    t = json.loads(report)["totals"]
    return {k: int(t[k]) for k in TOTALS}


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def environment(corpus: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USAGECTL_", "CLAUDE_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install keeps its bytecode
    env |= {"HOME": str(home.parent / "user"), "CLAUDE_CONFIG_DIR": str(corpus),
            "USAGECTL_HOME": str(home), "TZ": "UTC", "COLUMNS": "160"}  # fmt: skip
    return env


def bench(a: argparse.Namespace) -> dict[str, Any]:
    corpus = Path(a.corpus)
    if not (corpus / "ground_truth.json").exists():
        generate_corpus([str(corpus), *shlex.split(a.generate)])
    size = du(corpus / "projects")
    work = Path(tempfile.mkdtemp(prefix="bench-history-"))
    (work / "user").mkdir()
    env = environment(corpus, work / "home")
    cc_env = env | {"HOME": str(work / "user")}
    out: dict[str, Any] = {"corpus_bytes": size, "truth": json.loads(
        (corpus / "ground_truth.json").read_text())["lines"]}  # fmt: skip
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent.parent)],
                   check=False, stdout=subprocess.DEVNULL)  # fmt: skip

    cc: dict[str, Any] = {}
    for report in REPORTS:
        cmd = [a.ccusage, "claude", report, "--json", "--offline", "-z", "UTC"]
        cc[report] = timed(cmd, cc_env, a.ccusage_runs)
    out["ccusage"] = {k: {"s": v["s"], "mb": v["mb"]} for k, v in cc.items()}

    first = run([USAGECTL, "sync"], env, peaks=True)
    out["first_sync"] = {"s": first["wall"], "rss_mb": first["rss"], "said": first["err"][-300:]}
    home = work / "home"
    stream = du(home / "nats")
    out["footprint"] = {"stream": stream, "read_model": du(home) - stream, "total": du(home)}

    ours: dict[str, Any] = {}
    for report in REPORTS:
        ours[report] = timed([USAGECTL, report, "--json"], env, a.runs)
    last = max(day_tokens(ours["daily"]["out"]), default=None)
    if last:
        since = (datetime.fromisoformat(last) - timedelta(days=6)).strftime("%Y-%m-%d")
        ours["daily --since 7d"] = timed([USAGECTL, "daily", "--json", "--since", since], env,
                                         a.runs)  # fmt: skip
    ours["daily (table)"] = timed([USAGECTL, "daily"], env, a.runs)
    out["usagectl"] = {k: {"s": v["s"], "mb": v["mb"]} for k, v in ours.items()}
    truth = json.loads((corpus / "ground_truth.json").read_text())
    out["tokens"] = check(_totals(ours["daily"]["out"]), _totals(cc["daily"]["out"]), truth)

    t0 = time.perf_counter()
    replay = run([USAGECTL, "replay"], env, peaks=True)
    events = out["first_sync"]["said"]
    out["replay"] = {"s": time.perf_counter() - t0, "rss_mb": replay["rss"], "said": events}
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return out


def table(r: dict[str, Any]) -> str:
    cc, us = r["ccusage"], r["usagectl"]
    lines = [f"corpus {r['corpus_bytes'] / 2**30:.2f} GiB, "
             f"{r['truth']['assistant_lines']:,} assistant usage lines, "
             f"{r['truth']['unique_responses']:,} distinct responses", "",
             "| measurement | usagectl | ccusage 20.0.24 | ccusage ÷ usagectl |",
             "|---|---|---|---|"]  # fmt: skip
    for name, v in us.items():
        base = cc.get(name.split()[0], cc["daily"])
        lines.append(
            f"| `{name}` | {v['s'] * 1000:.0f} ms ({v['mb']:.0f} MB) | "
            f"{base['s']:.2f} s ({base['mb']:.0f} MB) | {base['s'] / v['s']:.1f}x |"
        )
    fs = r["first_sync"]
    lines.append(f"| first `sync` vs one `ccusage claude daily` | {fs['s']:.1f} s | "
                 f"{cc['daily']['s']:.2f} s | {cc['daily']['s'] / fs['s']:.2f}x |")  # fmt: skip
    events = int(re.sub(r"\D", "", fs["said"].split("lines,")[-1].split("usage")[0]) or 0)
    rate = events / r["replay"]["s"]
    lines.append(f"| replay into a fresh read model | {r['replay']['s']:.1f} s "
                 f"({rate:,.0f} events/s) | | |")  # fmt: skip
    f = r["footprint"]
    lines.append(f"| footprint: stream {f['stream'] / 1e6:.0f} MB + read model and state "
                 f"{f['read_model'] / 1e6:.0f} MB | {f['total'] / r['corpus_bytes']:.0%} of the "
                 "transcripts | | |")  # fmt: skip
    peaks = ", ".join(f"{k} {v:.0f} MB" for k, v in sorted(fs["rss_mb"].items()))
    lines.append(f"| peak RSS during first sync | {peaks} | | |")
    lines.append(f"| tokens | {r['tokens']['verdict']} | | |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--corpus", required=True)
    p.add_argument("--generate", default="--sessions 6000 --target-bytes 1990000000 --days 365 "
                   "--projects 100 --text-scale 0.01 --start 2025-12-01")  # fmt: skip
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--ccusage-runs", type=int, default=1)
    p.add_argument("--ccusage", default=os.environ.get("CCUSAGE_BIN", CCUSAGE))
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    p.add_argument("--out")
    a = p.parse_args()
    result = bench(a)
    result["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    if a.out:
        Path(a.out).write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(table(result))


if __name__ == "__main__":
    main()
