"""Chaos, long form: `usagectl sync` over a growing corpus while the producer, the processor or
the hub is SIGKILLed at a random moment of every round (tests/chaos.py; tests/test_chaos.py is
the CI-sized run). At the end the read model must equal the corpus's ground truth, per day and
token kind, and a clean replay of the stream must give the same reports.

    .venv/bin/python tests/bench/bench_chaos.py [--rounds 100] [--sessions 1000] [--seed 31]

Seeded: the same arguments give the same corpus, victims and kill delays (the moments the
kills land in still depend on timing). Never reads this machine's Claude data: every process
gets a temporary HOME, CLAUDE_CONFIG_DIR and USAGECTL_HOME, and its own nats-server.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chaos import reports, run_chaos
from conftest import make_env, start_server

KINDS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=31)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-chaos-") as tmp:
        root = Path(tmp)
        hub = start_server(root)
        try:
            env = make_env(root / "world", hub.url)
            t0 = time.perf_counter()
            report, truth = run_chaos(env, hub, root / "staging", rounds=a.rounds, seed=a.seed,
                                      sessions=a.sessions)  # fmt: skip
            chaos_s = time.perf_counter() - t0
            after = reports(env)
            t0 = time.perf_counter()
            env.run("replay", timeout=600)
            replay_s = time.perf_counter() - t0
            replayed = reports(env)
        finally:
            hub.kill()
    daily = after["daily"]
    assert isinstance(daily, dict)
    wrong = [
        (row["date"], k, row[k], truth["daily"][row["date"]]["totals"][k])
        for row in daily["daily"]
        for k in KINDS
        if row[k] != truth["daily"][row["date"]]["totals"][k]
    ]
    days_ok = {row["date"] for row in daily["daily"]} == set(truth["daily"])
    total_ok = daily["totals"]["totalTokens"] == truth["totals"]["totalTokens"]
    ok = not wrong and days_ok and total_ok and replayed == after
    usage_lines = truth["lines"]["assistant_lines"]
    print(f"corpus: {truth['files']:,} files, {truth['bytes'] / 1e6:.1f} MB, "
          f"{usage_lines:,} assistant usage lines, seed {a.seed}")  # fmt: skip
    print(f"rounds: {report.rounds}, {chaos_s:.0f} s; syncs that exited non-zero after a kill: "
          f"{report.failed_syncs}")  # fmt: skip
    print(f"SIGKILLs: {report.total} (producer {report.kills['producer']}, processor "
          f"{report.kills['processor']}, hub {report.kills['hub']})")  # fmt: skip
    verdict = "equal" if total_ok else "DIFFERENT"
    print(f"totalTokens: read model {daily['totals']['totalTokens']:,}, ground truth "
          f"{truth['totals']['totalTokens']:,} -> {verdict}")  # fmt: skip
    print(
        f"per day x token kind: {len(daily['daily'])} days, {len(wrong)} cells differ"
        + ("" if days_ok else " (and the set of days differs)")
    )
    for cell in wrong[:10]:
        print(f"    {cell}")
    same = "equal" if replayed == after else "DIFFERENT"
    print(f"replay ({replay_s:.1f} s): daily, session and blocks reports {same} to the chaos run's")
    print(f"verdict: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
