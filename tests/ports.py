"""Ports for servers whose port must be known before they start (a restart on the same port,
a cluster's routes, a generated hub config).

Where a server can pick its own port, tests let it (``start_server`` with ``-p -1``). Here each
pytest worker takes ports from its own slice below the kernel's ephemeral range, in order,
never twice: no other worker, and no client's outgoing connection, can be handed the same port
between our check and the server's bind.
"""

from __future__ import annotations

import itertools
import os
import socket

FIRST, SLICE, WORKERS = 20_000, 1_500, 8  # 20000..31999, below Linux's 32768..60999


def _worker() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name.removeprefix("gw") or 0) % WORKERS


def _candidates() -> itertools.cycle[int]:
    start = FIRST + _worker() * SLICE
    # Start at a point of the slice that depends on the process, so a rerun soon after does not
    # meet the previous run's ports still in TIME_WAIT.
    offset = os.getpid() % SLICE
    return itertools.cycle([start + (offset + i) % SLICE for i in range(SLICE)])


_ports = _candidates()


def free_port() -> int:
    for _ in range(SLICE):
        port = next(_ports)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # someone outside the suite has it
            return port
    raise RuntimeError("no free port left in this worker's slice")
