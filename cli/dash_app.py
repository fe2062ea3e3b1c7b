"""`usagectl dash`: the Textual app. Screens only route keys and show what the pure render
functions in dash_render make of the latest state; dash_live keeps that state current."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import ClassVar
from zoneinfo import ZoneInfo

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static
from usagectl.processors.app.settings import Settings

from .dash_data import local_day, step
from .dash_live import Request, run_live, wall_ms
from .dash_render import DashState, daily_panel, detail_view, header, help_view, sessions_panel


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "app.pop_screen", "close")
    ]
    DEFAULT_CSS = (
        "HelpScreen { align: center middle; } #help { width: auto; max-width: 100%; "
        "border: round $accent; padding: 0 1; background: $surface; }"
    )

    def compose(self) -> ComposeResult:
        yield Static(help_view(), id="help")


class DetailScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1)", "previous"),
        Binding("right", "move(1)", "next"),
        Binding("d", "view('day')", "day"),
        Binding("w", "view('week')", "week"),
        Binding("m", "view('month')", "month"),
        Binding("escape", "back", "back"),
        Binding("q", "app.quit", "quit"),
        Binding("question_mark", "app.help", "help"),
    ]

    def __init__(self, dash: DashApp, anchor: date) -> None:
        super().__init__()
        self.dash = dash
        self.dash.ask(Request("day", anchor))

    def compose(self) -> ComposeResult:
        yield Static(id="dash-header")
        with VerticalScroll():
            yield Static(id="detail")
        yield Footer()

    def action_move(self, direction: int) -> None:
        r = self.dash.request
        if r is not None:
            self.dash.ask(Request(r.view, step(r.view, r.anchor, direction)))

    def action_view(self, view: str) -> None:
        r = self.dash.request
        if r is not None:
            self.dash.ask(Request(view, r.anchor))

    def action_back(self) -> None:
        self.dash.ask(None)
        self.app.pop_screen()

    def show(self, s: DashState, width: int) -> None:
        self.query_one("#dash-header", Static).update(header(s))
        self.query_one("#detail", Static).update(detail_view(s, width))


class DashApp(App[None]):
    TITLE = "usagectl dash"
    ENABLE_COMMAND_PALETTE = False
    # The daily panel keeps its height under the sessions, which take what is left and scroll;
    # a wide terminal puts it beside them.
    CSS = """
    #dash-header { height: 1; }
    #body { height: 1fr; }
    #main { height: 1fr; }
    #daily { height: auto; border-top: hkey $accent; }
    .wide #body { layout: horizontal; }
    .wide #main { width: 1fr; height: 100%; }
    .wide #daily { width: 64; height: 100%; border-top: none; border-left: vkey $accent;
                   padding-left: 1; }
    """
    WIDE = 140
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,u", "detail", "detail"),  # only the main screen shows it (check_action)
        Binding("question_mark", "help", "help"),
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),  # as watch and up
    ]

    def __init__(
        self,
        settings: Settings,
        tz: ZoneInfo,
        start_of_week: str = "sunday",
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        super().__init__()
        self.settings, self.tz, self.start_of_week, self.clock = settings, tz, start_of_week, clock
        self.request: Request | None = None
        self.last: DashState | None = None
        self.error: BaseException | None = None
        self._wake = asyncio.Event()

    def compose(self) -> ComposeResult:
        yield Static("usagectl dash  connecting…", id="dash-header")
        with Container(id="body"):
            with VerticalScroll(id="main"):
                yield Static(id="sessions")
            yield Static(id="daily")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self._follow(), exclusive=True)

    async def _follow(self) -> None:
        try:
            await run_live(
                self.settings,
                self.tz,
                self.start_of_week,
                self.clock,
                self.draw,
                lambda: self.request,
                self._wake,
            )
        except Exception as err:  # shown by the command once the screen is gone
            self.error = err
            self.exit(return_code=1)

    def ask(self, request: Request | None) -> None:
        self.request = request
        self._wake.set()

    def draw(self, s: DashState) -> None:
        self.last = s
        width = self.size.width
        if isinstance(self.screen, DetailScreen):
            self.screen.show(s, width)
            return
        if not isinstance(self.screen, HelpScreen):
            wide = width >= self.WIDE
            self.screen.set_class(wide, "wide")
            self.query_one("#dash-header", Static).update(header(s))
            self.query_one("#sessions", Static).update(sessions_panel(s, width - 65 * wide))
            self.query_one("#daily", Static).update(daily_panel(s, 62 if wide else width))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The detail key belongs to the main screen (the footer hides it elsewhere)."""
        return not (action == "detail" and isinstance(self.screen, DetailScreen | HelpScreen))

    def on_resize(self) -> None:
        if self.last is not None:
            self.draw(self.last)

    def action_detail(self) -> None:
        if not isinstance(self.screen, DetailScreen | HelpScreen):
            self.push_screen(DetailScreen(self, local_day(self.clock(), self.tz)))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())
