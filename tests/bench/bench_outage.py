"""A hub outage of minutes (issue 6): `usagectl up` keeps tailing while the hub is down,
reconnects with backoff, catches up; nothing lost, nothing doubled.

    .venv/bin/python tests/bench/bench_outage.py [--outage-s 180] [--sessions 20]

The test suite runs the same scenario with a 20 s outage; this runs it for minutes (longer
than nats-py's default reconnect budget of ~2 minutes, which services disable). Prints the
outage, the catch-up time after the hub returned, and the token totals (expected vs read).
Never reads this machine's Claude data: everything lives in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resilience import hub_outage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage-s", type=float, default=180.0)
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="usagectl-outage-") as tmp:
        result = hub_outage(Path(tmp), args.outage_s, args.sessions)
    result["equal"] = result["final"] == result["expected"] == result["daily"]
    print(json.dumps(result, indent=2))
    if not result["equal"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
