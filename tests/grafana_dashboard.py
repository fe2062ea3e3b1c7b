"""deploy/grafana/dashboards/usagectl.json, built with Grafana's own Foundation SDK (its types
are generated from Grafana's dashboard schema, so what it builds is a dashboard Grafana
accepts). Regenerate after a change:

    .venv/bin/python tests/grafana_dashboard.py

tests/test_metrics.py checks the committed file is what this writes, and runs every panel's
query against a real Prometheus scraping `usagectl serve`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard, gauge, piechart, prometheus, timeseries
from grafana_foundation_sdk.builders.common import StackingConfig
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import GraphDrawStyle, StackingMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef

PATH = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards" / "usagectl.json"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="usagectl-prometheus")

# Each panel's queries (the test runs them against Prometheus with $__range and $__interval
# given values, as Grafana does).
COST_PER_DAY = "sum by (model) (increase(usagectl_cost_usd_total[1d]))"
BLOCK_USED = "usagectl_block_tokens / clamp_min(usagectl_block_token_limit, 1) * 100"
BLOCK_PROJECTED = "usagectl_block_projected_tokens / clamp_min(usagectl_block_token_limit, 1) * 100"
MACHINE_SHARES = "sum by (machine) (increase(usagectl_tokens_total[$__range]))"
OFFICIAL = "usagectl_official_utilisation_percent"
BURN = "usagectl_block_burn_rate_usd_per_hour"


def _query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)


def build() -> dict[str, Any]:
    board = (
        dashboard.Dashboard("Claude Code usage (usagectl)")
        .uid("usagectl")
        .tags(["usagectl", "claude-code"])
        .time("now-30d", "now")
        .refresh("1m")
        .timezone("browser")
        .with_panel(
            timeseries.Panel().title("Cost per day by model").datasource(DATASOURCE)
            .with_target(_query(COST_PER_DAY, "{{model}}").interval("1d"))
            .unit("currencyUSD").draw_style(GraphDrawStyle.BARS).fill_opacity(80)
            .stacking(StackingConfig().mode(StackingMode.NORMAL)).height(9).span(16)
        )
        .with_panel(
            gauge.Panel().title("Current 5-hour block (of the largest block so far)")
            .datasource(DATASOURCE)
            .with_target(_query(BLOCK_USED, "used {{account}}"))
            .with_target(_query(BLOCK_PROJECTED, "projected {{account}}", "B"))
            .unit("percent").min(0).max(100).height(9).span(8)
        )
        .with_panel(
            piechart.Panel().title("Tokens per machine").datasource(DATASOURCE)
            .with_target(_query(MACHINE_SHARES, "{{machine}}").instant())
            .unit("short").height(9).span(8)
        )
        .with_panel(
            timeseries.Panel().title("Official utilisation (Claude Code's 5h / 7d)")
            .datasource(DATASOURCE)
            .with_target(_query(OFFICIAL, "{{window}} {{account}}"))
            .unit("percent").min(0).max(100).height(9).span(8)
        )
        .with_panel(
            timeseries.Panel().title("Burn rate of the current block").datasource(DATASOURCE)
            .with_target(_query(BURN, "{{account}}")).unit("currencyUSD").height(9).span(8)
        )
    )  # fmt: skip
    encoded: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return encoded


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def queries(board: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in board["panels"] for t in p.get("targets", [])]


if __name__ == "__main__":
    PATH.parent.mkdir(parents=True, exist_ok=True)
    PATH.write_text(render())
    print(f"wrote {PATH}", file=sys.stderr)
