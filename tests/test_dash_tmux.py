"""`usagectl dash` in a real terminal (tmux, 80×24): it draws, Enter opens today's detail, `q`
quits with status 0. Waits on the screen's content, never on time. The captures are written to
tests/artifacts/ (the README's screenshot comes from one)."""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from conftest import USAGECTL, Env, system_tool
from corpus import generate
from test_dashboard import artifacts


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


def wait_pane(socket: str, ok: Callable[[str], bool], what: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux(socket, "capture-pane", "-p", "-t", "dash")
        if ok(screen):
            return screen
        time.sleep(0.1)  # a poll interval: the wait is on the screen's content
    raise AssertionError(f"timed out waiting for {what}; the pane shows:\n{screen}")


def test_dash_in_tmux_draws_opens_the_detail_and_quits_cleanly(env: Env) -> None:
    system_tool("tmux", package="tmux")
    today = datetime.now(UTC).date()
    generate(env.claude, seed=5, sessions=16, start=(today - timedelta(days=6)).isoformat(),
             days=6)  # fmt: skip
    env.run("sync")
    socket = f"usagectl-test-{env.root.name}"
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.vars().items() if k != "COLUMNS")
    done = env.root / "dash.status"
    command = f"env {exports} {USAGECTL} dash; echo $? > {done}; sleep 300"
    tmux(socket, "new-session", "-d", "-s", "dash", "-x", "80", "-y", "24", command)
    try:
        main = wait_pane(socket, lambda s: "last 7 days" in s and "today" in s, "the dash")
        (artifacts() / "dash-80x24.txt").write_text(main)
        yesterday = env.json("daily", "-z", "UTC", "--since",
                             (today - timedelta(days=1)).isoformat())["daily"]  # fmt: skip
        if yesterday and yesterday[0]["date"] == (today - timedelta(days=1)).isoformat():
            assert f"${yesterday[0]['totalCost']:,.2f}" in main
        tmux(socket, "send-keys", "-t", "dash", "Enter")
        detail = wait_pane(socket, lambda s: "cost by local hour" in s, "today's detail")
        (artifacts() / "dash-detail-80x24.txt").write_text(detail)
        tmux(socket, "send-keys", "-t", "dash", "q")
        wait_pane(socket, lambda s: done.exists() and bool(done.read_text().strip()), "the exit")
        assert done.read_text().strip() == "0"
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
