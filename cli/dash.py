"""`usagectl dash`: the terminal dashboard (Textual), live on every machine's data."""

from __future__ import annotations

from typing import Annotated

import typer
from usagectl.processors.app.parsing import check_choice, zone

from .reports import Tz

app = typer.Typer(add_completion=False)


@app.command()
def dash(
    timezone: Tz = None,
    start_of_week: Annotated[str, typer.Option("--start-of-week", "-w")] = "sunday",
) -> None:
    """Interactive terminal dashboard: sessions (status, block and today's cost), today,
    yesterday, this week, the last 7 days and budgets; Enter opens a day's detail."""
    from usagectl.processors.app.errors import UserError
    from usagectl.processors.app.settings import load_settings
    from usagectl.projections.reports import WEEKDAYS

    from .dash_app import DashApp

    check_choice(start_of_week, WEEKDAYS, "--start-of-week")
    dash_app = DashApp(load_settings(), zone(timezone), start_of_week)
    dash_app.run()
    if dash_app.error is not None:
        err = dash_app.error
        if getattr(err, "user_facing", False):
            raise err
        raise UserError(f"dash stopped: {type(err).__name__}: {err}") from err
