"""Rendering for people: rich tables from the same rows the JSON output carries."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def _n(value: int) -> str:
    return f"{value:,}"


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def usage_table(title: str, key_name: str, rows: list[dict[str, Any]], totals: dict[str, Any],
                breakdown: bool) -> Table:  # fmt: skip
    table = Table(title=title, show_footer=False, header_style="bold")
    table.add_column(key_name.capitalize() if key_name != "sessionId" else "Session")
    table.add_column("Models")
    for label in ("Input", "Output", "Cache Create", "Cache Read", "Total Tokens", "Cost (USD)"):
        table.add_column(label, justify="right")
    for row in rows:
        table.add_row(str(row[key_name]), "\n".join(row["modelsUsed"]), *_cells(row))
        if breakdown:
            for b in row["modelBreakdowns"]:
                total = sum(b[k] for k in _TOKEN_KEYS)
                cost = "unpriced" if b.get("missingPricing") else _usd(b["cost"])
                table.add_row(
                    "", f"  └ {b['modelName']}", *(_n(b[k]) for k in _TOKEN_KEYS), _n(total), cost,
                    style="dim",
                )  # fmt: skip
    table.add_section()
    table.add_row("Total", "", *_cells(totals), style="bold")
    return table


_TOKEN_KEYS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")


def _cells(row: dict[str, Any]) -> list[str]:
    return [*(_n(row[k]) for k in _TOKEN_KEYS), _n(row["totalTokens"]), _usd(row["totalCost"])]


def blocks_table(rows: list[dict[str, Any]], limit: int | None) -> Table:
    table = Table(title="5-hour blocks", header_style="bold")
    for label in ("Block start", "Duration/Status", "Models", "Tokens", "%", "Cost"):
        table.add_column(label, justify="right" if label in ("Tokens", "%", "Cost") else "left")
    for b in rows:
        if b["isGap"]:
            table.add_row(b["startTime"], "(gap)", "", "", "", "", style="dim")
            continue
        status = "ACTIVE" if b["isActive"] else f"ended {b['actualEndTime']}"
        percent = f"{b['totalTokens'] / limit * 100:.1f}%" if limit else ""
        table.add_row(
            b["startTime"], status, "\n".join(b["models"]), _n(b["totalTokens"]), percent,
            _usd(b["costUSD"]), style="bold green" if b["isActive"] else None,
        )  # fmt: skip
        if b["isActive"] and b["projection"]:
            p = b["projection"]
            table.add_row(
                "", f"projected ({p['remainingMinutes']} min left)", "",
                _n(p["totalTokens"]), "", _usd(p["totalCost"]), style="yellow",
            )  # fmt: skip
    return table
