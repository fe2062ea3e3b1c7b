"""`usagectl watch`: the live view (being written)."""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False)
