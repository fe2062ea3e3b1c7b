"""Benchmark `usagectl sync` and its reports against ccusage 20 on a generated corpus (DESIGN §7).

    .venv/bin/python tests/bench/bench_sync.py [--target-bytes 200000000] [--corpus DIR]
        [--sessions N] [--days 30] [--runs 5] [--backdate] [--ccusage BIN] [--out results.json]

Not a pytest test. Never reads this machine's Claude data: HOME, CLAUDE_CONFIG_DIR and
USAGECTL_HOME are temporary and USAGECTL_NATS_URL is dropped, so usagectl starts its embedded
nats-server. Times are whole-process wall times; peak RSS is wait4's ru_maxrss, except for
`usagectl sync`, whose own VmHWM and its nats-server child's are sampled from /proc at 20 Hz.
With --corpus DIR the corpus is generated there once and reused (appended lines are removed).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from random import Random
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from corpus import generate

CCUSAGE = "/tmp/ccusage/node_modules/@ccusage/ccusage-linux-x64/bin/ccusage"
USAGECTL = str(Path(sys.executable).parent / "usagectl")
REPORTS = ("daily", "monthly", "session", "blocks")
TOKENS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens", "totalTokens")
USAGE_KEYS: tuple[str, ...]
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens")
USAGE_KEYS += ("cache_read_input_tokens",)


def vm_hwm_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    m = re.search(r"^VmHWM:\s+(\d+)", status, re.M)
    return int(m.group(1)) if m else 0


class Sampler(threading.Thread):
    """Peak VmHWM of `pid` and of every nats-server whose command line contains `tag`."""

    def __init__(self, pid: int, tag: str) -> None:
        super().__init__(daemon=True)
        self.pid, self.tag, self.done = pid, tag.encode(), threading.Event()
        self.peak_kb: dict[str, int] = {"usagectl": 0, "nats-server": 0}

    def run(self) -> None:
        while not self.done.is_set():
            pids = {self.pid: "usagectl"}
            for d in Path("/proc").iterdir():
                if d.name.isdigit():
                    try:
                        cmd = (d / "cmdline").read_bytes()
                    except OSError:
                        continue
                    if b"nats-server" in cmd and self.tag in cmd:
                        pids[int(d.name)] = "nats-server"
            for pid, name in pids.items():
                self.peak_kb[name] = max(self.peak_kb[name], vm_hwm_kb(pid))
            self.done.wait(0.05)


def run(cmd: list[str], env: dict[str, str], sample: str | None = None) -> dict[str, Any]:
    """One whole-process run: wall seconds, peak RSS in MB, stdout and stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        sampler = Sampler(p.pid, sample) if sample else None
        if sampler:
            sampler.start()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if sampler:
            sampler.done.set()
            sampler.join()
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read().decode(errors="replace")
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} exited {p.returncode}:\n{stderr}")
    rss = {k: v / 1024 for k, v in sampler.peak_kb.items()} if sampler else {}
    return {"wall": wall, "rss": rss or {"self": ru.ru_maxrss / 1024}, "out": stdout, "err": stderr}


def timed(cmd: list[str], env: dict[str, str], n: int) -> dict[str, float]:
    run(cmd, env)  # warm the page cache and the binary
    runs = [run(cmd, env) for _ in range(n)]
    wall, rss = median(r["wall"] for r in runs), max(r["rss"]["self"] for r in runs)
    return {"wall_s": wall, "rss_mb": rss}


def totals(report: bytes) -> dict[str, int]:
    t = json.loads(report)["totals"]
    return {k: int(t[k]) for k in TOKENS}


def sync(env: dict[str, str]) -> dict[str, Any]:
    r = run([USAGECTL, "sync"], env, sample=env["USAGECTL_HOME"])
    nums = [int(x.replace(",", "")) for x in re.findall(r"\d[\d,]*", r["err"].split("synced")[-1])]
    keys = ("files", "lines", "usage_events", "rejected")
    rss = {"rss_usagectl_mb": r["rss"]["usagectl"], "rss_nats_mb": r["rss"]["nats-server"]}
    return {"wall_s": r["wall"]} | rss | dict(zip(keys, nums, strict=False))


def template(path: Path) -> dict[str, Any] | None:
    """The last main-chain assistant line with usage and a requestId: the shape to copy."""
    for raw in reversed(path.read_bytes().splitlines()):
        try:
            line: dict[str, Any] = json.loads(raw)  # not a dict: TypeError below
            usage = line["message"]["usage"]
            ok = line.get("type") == "assistant" and not line.get("isSidechain")
            ok = ok and "requestId" in line and line["message"].get("model") != "<synthetic>"
            ok = ok and "input_tokens" in usage and "output_tokens" in usage
            ok = ok and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"])
            values = [usage.get(k, 0) for k in USAGE_KEYS]
            if ok and all(type(v) is int and v >= 0 for v in values):
                return line
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return None


def append_lines(
    corpus: Path, files: int, per_file: int, seed: int, day: str | None
) -> tuple[dict[Path, int], int]:
    """Append new responses shaped like existing ones, timed late on `day` (None: the copied
    line's own timestamp); returns the files' original sizes and the tokens added."""
    r, added = Random(seed), 0
    sizes: dict[Path, int] = {}
    late = datetime.fromisoformat(f"{day}T22:00:00+00:00") if day else None
    paths = sorted(corpus.glob("projects/*/*.jsonl"))
    for path in r.sample(paths, len(paths)):
        if len(sizes) == files:
            break
        if (tmpl := template(path)) is None:
            continue
        buf, parent = bytearray(), tmpl.get("uuid")
        for i in range(per_file):
            line = copy.deepcopy(tmpl)
            line["uuid"], line["parentUuid"] = str(uuid.UUID(int=r.getrandbits(128))), parent
            line["message"]["id"] = f"msg_bench{r.getrandbits(96):024x}"
            line["requestId"] = f"req_bench{r.getrandbits(96):024x}"
            parent = line["uuid"]
            if late:
                t = late + timedelta(seconds=3 * (len(sizes) * per_file + i))
                line["timestamp"] = t.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            added += sum(line["message"]["usage"].get(k, 0) for k in USAGE_KEYS)
            buf += json.dumps(line, separators=(",", ":")).encode() + b"\n"
        sizes[path] = path.stat().st_size
        with path.open("rb+") as f:
            f.seek(0, 2)
            if sizes[path] and (f.seek(-1, 2), f.read(1))[1] != b"\n":
                f.write(b"\n")
            f.write(buf)
    return sizes, added


def du(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def check(ours: dict[str, int], theirs: dict[str, int], truth: dict[str, Any]) -> dict[str, Any]:
    """usagectl must match the ground truth; ccusage daily may exceed it by requestless copies."""
    extra = truth["special"]["requestless_copy"]["totals"]
    chk = {"usagectl": ours, "ccusage": theirs, "truth": {k: truth["totals"][k] for k in TOKENS}}
    chk["ccusage_extra_expected"] = {k: extra[k] for k in TOKENS}
    v = "usagectl == truth; " if ours == chk["truth"] else "usagectl != truth; "
    ok = all(theirs[k] - ours[k] == extra[k] for k in TOKENS)
    v += "ccusage - usagectl == requestless copies (documented)" if ok else "UNEXPLAINED vs ccusage"
    return chk | {"verdict": v}


def table(res: dict[str, Any]) -> str:
    c, s, inc = res["corpus"], res["sync"], res["incremental"]
    cc = res["ccusage_daily"]
    rep = {r: (res["reports"][r]["usagectl"], res["reports"][r]["ccusage"]) for r in REPORTS}
    n = res["n_reports"]
    rows = [
        (f"{r} report, median of {n} (s)", u["wall_s"], t["wall_s"], ">= 20x")
        for r, (u, t) in rep.items()
    ]
    rows += [
        ("first sync vs one ccusage daily (s)", s["wall_s"], cc["wall_s"], "ratio >= 0.5x"),
        ("sync peak RSS: usagectl (MB)", s["rss_usagectl_mb"], cc["rss_mb"], "< 250 (100+150)"),
        ("sync peak RSS: nats-server (MB)", s["rss_nats_mb"], None, ""),
        ("daily report peak RSS (MB)", rep["daily"][0]["rss_mb"], cc["rss_mb"], ""),
        (
            f"incremental sync, {inc['lines']:,} lines{' (old ts)' * inc['backdated']} (s)",
            inc["wall_s"],
            cc["wall_s"],
            "",
        ),
        ("incremental sync peak RSS: usagectl (MB)", inc["rss_usagectl_mb"], None, ""),
    ]
    out = [
        f"corpus: {c['bytes'] / 1e6:,.1f} MB, {c['files']:,} files, {c['lines']:,} lines, "
        f"{c['usage_lines']:,} assistant usage lines, {c['sessions']:,} sessions, {c['days']} days",
        f"usagectl store after sync: {s['store_bytes'] / 1e6:,.1f} MB; sync saw "
        f"{s.get('files', 0):,} files, {s.get('lines', 0):,} lines, "
        f"{s.get('usage_events', 0):,} usage events",
        f"{'measurement':42} {'usagectl':>10} {'ccusage':>10} {'cc/ours':>8}  target",
    ]
    for label, ours, theirs, target in rows:
        ratio = f"{theirs / ours:7.2f}x" if theirs and ours and "RSS" not in label else ""
        th = f"{theirs:10.3f}" if theirs is not None else f"{'':10}"
        out.append(f"{label:42} {ours:10.3f} {th} {ratio:>8}  {target}")
    chk = res["check"]
    for name in ("usagectl", "ccusage", "truth", "ccusage_extra_expected"):
        out.append(f"daily totals {name:23}" + " ".join(f"{k}={v:,}" for k, v in chk[name].items()))
    when = "copied lines' own timestamps" if inc["backdated"] else "new timestamps at the end"
    out.append(f"daily check: {chk['verdict']}; incremental ({when}): {inc['verdict']}")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--target-bytes", type=int, default=200_000_000)
    ap.add_argument("--sessions", type=int, help="default: one per 375 kB (4,000 at 1.5 GB)")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--corpus", type=Path, help="generate here once, reuse afterwards")
    ap.add_argument("--ccusage", default=CCUSAGE)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per report")
    ap.add_argument("--backdate", action="store_true", help="appended lines keep old timestamps")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    a = ap.parse_args()
    sessions = a.sessions or max(40, round(a.target_bytes / 375_000))
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        corpus = a.corpus or Path(tmp) / "claude"
        if not (corpus / "ground_truth.json").exists():
            t0 = time.perf_counter()
            gen = {"seed": a.seed, "sessions": sessions, "target_bytes": a.target_bytes}
            generate(corpus, days=a.days, **gen)
            print(f"generated {corpus} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        truth = json.loads((corpus / "ground_truth.json").read_text())
        home = Path(tmp) / "home"
        home.mkdir()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        env |= {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(corpus)}
        env["USAGECTL_HOME"] = str(Path(tmp) / "usagectl")  # fresh; no USAGECTL_NATS_URL
        lines = {"lines": truth["lines"]["total"], "usage_lines": truth["lines"]["assistant_lines"]}
        corp = {"path": str(corpus), "bytes": truth["bytes"], "files": truth["files"]} | lines
        corp |= {k: truth["args"][k] for k in ("sessions", "days", "seed")}
        res: dict[str, Any] = {"n_reports": a.runs, "corpus": corp}
        cc = [a.ccusage, "claude"]
        print("ccusage daily x3 ...", file=sys.stderr)
        res["ccusage_daily"] = timed([*cc, "daily", "--json", "--offline", "-z", "UTC"], env, 3)
        print("usagectl sync ...", file=sys.stderr)
        res["sync"] = sync(env) | {"store_bytes": du(Path(env["USAGECTL_HOME"]))}
        res["reports"] = {}
        for r in REPORTS:
            print(f"{r} x{a.runs} ...", file=sys.stderr)
            res["reports"][r] = {
                "usagectl": timed([USAGECTL, r, "--json", "-z", "UTC"], env, a.runs),
                "ccusage": timed([*cc, r, "--json", "--offline", "-z", "UTC"], env, a.runs),
            }
        ours = totals(run([USAGECTL, "daily", "--json", "-z", "UTC"], env)["out"])
        theirs = totals(run([*cc, "daily", "--json", "--offline", "-z", "UTC"], env)["out"])
        res["check"] = check(ours, theirs, truth)
        print("incremental ...", file=sys.stderr)
        day = None if a.backdate else max(truth["daily"])
        sizes, added = append_lines(corpus, 50, 20, a.seed, day)
        try:
            inc = sync(env)
            after = totals(run([USAGECTL, "daily", "--json", "-z", "UTC"], env)["out"])
        finally:
            for path, size in sizes.items():
                os.truncate(path, size)
        got = after["totalTokens"] - ours["totalTokens"]
        verdict = "ok" if got == added else f"MISMATCH ({got:,} seen, {added:,} added)"
        inc |= {"lines": 20 * len(sizes), "files": len(sizes), "tokens_added": added}
        res["incremental"] = inc | {"tokens_seen": got, "verdict": verdict, "backdated": a.backdate}
    print(table(res))
    if a.out:
        a.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
