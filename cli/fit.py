"""Tables that fit the terminal without lying: the key column and the cost are never cut.

A table is built at successive levels of compactness (shorter headers, then columns dropped
in a stated order, token counts as 3.6M), and the first level whose natural width fits is
printed; rich then has nothing to crop. Piped or redirected output has no width to fit: it
gets the full table, however wide (rich would otherwise assume 80 columns).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

Justify = Literal["left", "right"]


@dataclass(frozen=True)
class Level:
    short_headers: bool = False
    compact_numbers: bool = False
    dropped: frozenset[str] = frozenset()


def levels(drop_order: Sequence[str], numbers_after: int = 0) -> list[Level]:
    """Full; short headers; then the columns of ``drop_order`` dropped one by one, token counts
    compacted (3.6M) once ``numbers_after`` of them are gone."""
    out = [Level(), Level(short_headers=True)]
    for n in range(len(drop_order) + 1):
        if n == numbers_after:
            out.append(Level(True, True, frozenset(drop_order[:n])))
        if n < len(drop_order):
            out.append(Level(True, n + 1 > numbers_after, frozenset(drop_order[: n + 1])))
    return out


@dataclass(frozen=True)
class Col:
    key: str
    header: str
    short: str = ""
    justify: Justify = "left"
    max_width: int | None = None  # longer cells end in "…" (never for a key or a cost)


@dataclass
class Grid:
    """What a table holds at one level: columns, rows of plain cells, a section before the
    totals, and a style per row."""

    title: str
    cols: list[Col]
    rows: list[list[str]] = field(default_factory=list)
    styles: list[str | None] = field(default_factory=list)
    section_at: int | None = None
    dropped: list[str] = field(default_factory=list)  # headers left out at this level

    @classmethod
    def of(cls, title: str, cols: Sequence[Col], level: Level) -> Grid:
        keep = [c for c in cols if c.key not in level.dropped]
        return cls(title, keep, dropped=[c.header for c in cols if c.key in level.dropped])

    def add(self, cells: Sequence[str], style: str | None = None) -> None:
        self.rows.append(list(cells))
        self.styles.append(style)

    def width(self, level: Level) -> int:
        """The natural width rich gives this table (a 1-cell pad each side, 1-cell rules)."""
        total = 1
        for i, col in enumerate(self.cols):
            head = col.short if level.short_headers and col.short else col.header
            widest = max((_cell_width(r[i]) for r in self.rows), default=0)
            w = max(cell_len(head), widest)
            total += min(w, col.max_width) if col.max_width else w
            total += 3
        return total

    def table(self, level: Level) -> Table:
        t = Table(title=self.title, header_style="bold")
        for col in self.cols:
            head = col.short if level.short_headers and col.short else col.header
            t.add_column(
                head,
                justify=col.justify,
                no_wrap=True,
                max_width=col.max_width,
                overflow="ellipsis" if col.max_width else "fold",
            )
        for n, (cells, style) in enumerate(zip(self.rows, self.styles, strict=True)):
            if n == self.section_at:
                t.add_section()
            t.add_row(*cells, style=style)
        return t


def _cell_width(cell: str) -> int:
    return max((cell_len(line) for line in cell.split("\n")), default=0)


def tokens(value: int, level: Level) -> str:
    """1,234,567 in full; 1.2M when compact."""
    if not level.compact_numbers or abs(value) < 1000:
        return f"{value:,}"
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:,}"  # pragma: no cover


def output_width(console: Console) -> int | None:
    """The width to fit, or None for a pipe or a file (no width: print everything)."""
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console.width
    return None


def fitted(
    build: Callable[[Level], Grid],
    options: Sequence[Level],
    width: int | None,
    compact: bool = False,
) -> tuple[Grid, Level]:
    """The first level whose table fits ``width`` (the last one if none does); ``compact``
    starts at the first level that compacts numbers."""
    start = next((i for i, lv in enumerate(options) if lv.compact_numbers), 0) if compact else 0
    grid, level = build(options[start]), options[start]
    for level in options[start:]:
        grid = build(level)
        if width is None or grid.width(level) <= width:
            break
    return grid, level


def print_fitted(
    build: Callable[[Level], Grid],
    options: Sequence[Level],
    compact: bool = False,
    console: Console | None = None,
    after: Sequence[Any] = (),
) -> None:
    """Print the fitting table; a pipe gets a console as wide as the full table."""
    console = console or Console()
    width = output_width(console)
    grid, level = fitted(build, options, width, compact)
    if width is None:
        console = Console(width=max(grid.width(level), 80), file=console.file)
    console.print(grid.table(level))
    if grid.dropped:
        why = "--compact" if compact else f"{width} columns"
        console.print(
            Text(
                f"{why}: {', '.join(grid.dropped)} not shown (a wider terminal, or "
                "a pipe, shows every column)",
                style="dim",
            )
        )
    for extra in after:
        console.print(extra)
