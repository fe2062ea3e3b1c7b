"""The hook's fast path: what Claude Code runs, as a command hook, on every hook event.

It must never slow or break Claude Code: it reads the event's JSON on stdin, trims it
(projections.hooks), appends one line to the local hook spool and exits 0 with nothing on
stdout, whatever happens (bad JSON, a full disk, a read-only home). It never talks to the hub:
``up`` and ``sync`` publish the spool. Like the statusline, ``usagectl.cli.entry`` calls it
before typer is loaded, and it imports only what it needs.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime

from .stdin import read_input

MAX_HOOK_INPUT = 1 << 26  # a PostToolUse carries the whole tool output: read it all
LOCK_TRIES = 200  # x 2.5 ms: a hook event is worth waiting a moment for a busy spool
PROMPTS_ENV = "USAGECTL_HOOK_PROMPTS"


def record(raw: bytes, now: float) -> bool:
    """Spool the hook call ``raw`` describes; False if it is none, or already spooled."""
    from usagectl.processors.app.settings import load_settings
    from usagectl.projections.hooks import hook_event

    settings = load_settings()
    event = hook_event(
        raw,
        machine=settings.machine,
        account=settings.account,
        now=datetime.fromtimestamp(now, UTC),
        keep_prompts=os.environ.get(PROMPTS_ENV, "") == "1",
    )
    if event is None:
        return False
    from usagectl.producers.spool import HOOKS, append, spool_path

    # The id in the spool's tail: a hook delivered twice in a row is spooled once.
    path = spool_path(settings.home, HOOKS)
    return append(path, event, key=event.event_id.encode(), lock_tries=LOCK_TRIES)


def run(stdin_fd: int = 0) -> int:
    """Read, spool, exit 0: nothing on stdout, ever (Claude Code would read it as context or
    as a decision)."""
    try:
        record(read_input(stdin_fd, max_bytes=MAX_HOOK_INPUT), time.time())
    except BaseException as err:  # MemoryError, RecursionError, KeyboardInterrupt alike
        if os.environ.get("USAGECTL_DEBUG"):
            import traceback

            traceback.print_exception(err, file=sys.stderr)
    return 0
