"""Running a hub command on an event loop: one place, so every command stops the same way."""

from __future__ import annotations

import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a hub command; SIGTERM (a service manager, `timeout`) unwinds it like Ctrl-C, so an
    embedded hub it started is stopped on the way out."""
    import asyncio  # only the commands that talk to the hub pay for the event loop

    async def main() -> T:
        task = asyncio.current_task()
        if task is not None:
            for sig in (signal.SIGTERM, signal.SIGHUP):  # a closed terminal sends SIGHUP
                asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
        return await coro

    return asyncio.run(main())
