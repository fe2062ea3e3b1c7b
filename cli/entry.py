"""The `usagectl` console script. `usagectl statusline` runs many times a minute inside Claude
Code with a 100 ms budget, so it is answered here without loading typer (~100 ms of imports);
every other command (and `statusline --help` / `--install`) goes to the typer app."""

from __future__ import annotations

import os
import sys


def main() -> None:
    if sys.argv[1:] == ["statusline"]:
        from .statusline_run import run

        code = run()  # output is flushed, the read model closed, the spool line written
        os._exit(code)  # skip interpreter teardown: a few ms of the budget, nothing to lose
    from .app import main as app_main

    app_main()
