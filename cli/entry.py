"""The `usagectl` console script. `usagectl statusline` runs many times a minute inside Claude
Code with a 100 ms budget, and `usagectl hook` on every tool call, so both are answered here
without loading typer (~100 ms of imports), as are the JSON reports a script polls
(``cli/fastreport.py``); every other command (and `--help` / `--install`) goes to the typer app."""

from __future__ import annotations

import os
import sys


def main() -> None:
    if sys.argv[1:] == ["statusline"]:
        from .statusline_run import run

        code = run()  # output is flushed, the read model closed, the spool line written
        os._exit(code)  # skip interpreter teardown: a few ms of the budget, nothing to lose
    if sys.argv[1:] == ["hook"]:
        code = 0
        try:
            from .hook_run import run as run_hook

            code = run_hook()  # the spool line is written; stdout was never touched
        finally:
            os._exit(code)  # exit 0 even if an import failed: a hook must never break Claude
    if "--json" in sys.argv or "-j" in sys.argv:
        from .fastreport import answer

        if answer(sys.argv[1:]):
            return
    from .app import main as app_main

    app_main()
