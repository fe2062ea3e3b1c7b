"""`usagectl statusline`: Claude Code's statusLine command (being written)."""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False)
