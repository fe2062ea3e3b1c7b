"""Peak RSS of every process of a first `usagectl sync` (DESIGN §7: producer < 100 MB,
processor < 150 MB): the `sync` process (producer), its processor child and the embedded
nats-server, each its own VmHWM and CPU time sampled from /proc at 20 Hz, plus the wall time.

    .venv/bin/python tests/bench/bench_rss.py --corpus DIR [--keep-home DIR]

DIR is a generated corpus (tests/corpus.py, e.g. the one bench_sync.py --corpus made). Never
reads this machine's Claude data: HOME and USAGECTL_HOME are temporary (or --keep-home, a new
directory, kept for profiling reports afterwards) and USAGECTL_NATS_URL is dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

USAGECTL = str(Path(sys.executable).parent / "usagectl")


def cpu_s(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def hwm_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        m = re.search(r"^VmHWM:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
        return int(m.group(1)) if m else 0
    return 0


def role(pid: int, root: int, tag: bytes) -> str | None:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
    if pid == root:
        return "usagectl sync (producer)"
    if b"nats-server" in cmd and tag in cmd:
        return "nats-server (embedded)"
    if ppid == root and b"processor" in cmd:
        return "processor child"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--keep-home", type=Path)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        work = a.keep_home or Path(tmp)
        (work / "home").mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("USAGECTL_", "CLAUDE"))}
        env.update(HOME=str(work / "home"), CLAUDE_CONFIG_DIR=str(a.corpus),
                   USAGECTL_HOME=str(work / "usagectl"))  # fmt: skip
        peak: dict[str, int] = {}
        cpu: dict[str, float] = {}
        done = threading.Event()
        t0 = time.perf_counter()
        proc = subprocess.Popen([USAGECTL, "sync"], env=env, stderr=subprocess.PIPE)
        tag = env["USAGECTL_HOME"].encode()

        def sample() -> None:
            while not done.is_set():
                for d in Path("/proc").iterdir():
                    if d.name.isdigit() and (name := role(int(d.name), proc.pid, tag)):
                        peak[name] = max(peak.get(name, 0), hwm_kb(int(d.name)))
                        cpu[name] = max(cpu.get(name, 0.0), cpu_s(int(d.name)))
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, err = proc.communicate()
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
    if proc.returncode:
        raise SystemExit(f"usagectl sync exited {proc.returncode}: {err.decode()[-2000:]}")
    summary = " ".join(err.decode().split("synced")[-1].split())
    print(f"first sync of {a.corpus}: {wall:.1f} s wall; synced {summary}")
    targets = {"usagectl sync (producer)": "< 100 MB", "processor child": "< 150 MB"}
    for name, kb in sorted(peak.items()):
        print(f"    {name:26} peak RSS {kb / 1024:6.1f} MB {targets.get(name, ''):9}"
              f"  CPU {cpu[name]:5.1f} s (last sample)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
