"""`usagectl serve`'s `/metrics`: the read model in Prometheus' text format. The counters equal
the reports, the gauges follow the active block, the official figures, machines and alerts;
the project label can be turned off; off loopback it needs the access token. And a real
Prometheus (Debian's `prometheus`) scrapes it: the sum of its token counter, queried through
Prometheus' own HTTP API, equals `daily --json`'s total."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import make_env, start_server, system_tool
from corpus import generate
from hubs import DEPLOY
from ports import free_port
from prometheus_client.parser import text_string_to_metric_families
from serving import Served, serve, wait_for
from usagectl.processors.bus import BusSettings, connect, ensure_streams
from usagectl.projections.events import Limit, encode, subject

# The tests share one served world and build on each other's events: one worker, in order.
pytestmark = pytest.mark.xdist_group("metrics")

NOW = datetime.now(UTC)


def _assistant(n: int, at: datetime, out: int) -> str:
    return json.dumps({
        "type": "assistant", "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "sessionId": "live-session", "cwd": "/work/live", "requestId": f"req_met_{n}",
        "message": {"id": f"msg_met_{n}", "model": "claude-sonnet-4-5-20250929",
                    "usage": {"input_tokens": 100, "output_tokens": out}}})  # fmt: skip


async def _publish_limit(url: str, pct: float) -> None:
    bus = BusSettings(url=url)
    nc = await connect(bus)
    js = nc.jetstream()
    await ensure_streams(js, bus)
    limit = Limit(event_id="limit-metrics-1", ts=NOW - timedelta(minutes=5),
                  machine="test-machine", account="default", session_id="live-session",
                  five_hour_pct=pct, five_hour_resets_at=NOW + timedelta(hours=2),
                  seven_day_pct=12.0, seven_day_resets_at=NOW + timedelta(days=3))  # fmt: skip
    await js.publish(subject(bus.prefix, "limit", limit.machine), encode(limit),
                     headers={"Nats-Msg-Id": limit.event_id})  # fmt: skip
    await nc.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A month of history, a live session in the current block and an official 5h figure."""
    root = tmp_path_factory.mktemp("metrics")
    hub = start_server(root)
    env = make_env(root / "laptop", hub.url)
    generate(env.claude, seed=31, sessions=20, days=6)
    live = env.claude / "projects" / "-work-live" / "live-session.jsonl"
    live.parent.mkdir(parents=True)
    live.write_text("".join(_assistant(n, NOW - timedelta(minutes=40 - n), 500 * n) + "\n"
                            for n in range(1, 6)))  # fmt: skip
    asyncio.run(_publish_limit(hub.url, 84.5))
    env.run("sync")
    served = serve(env, "--rate-limit", "0")
    yield served
    served.stop()
    hub.kill()


def scrape(served: Served, token: str | None = None) -> dict[str, Any]:
    reply = served.request("/metrics", token=token)
    assert reply.status == 200, reply.body[:300]
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(reply.body.decode())}


def _samples(families: dict[str, Any], name: str) -> list[Any]:
    return [s for s in families[name].samples if s.name.endswith(("_total", name))]


def test_counters_equal_the_reports(world: Served) -> None:
    families = scrape(world)
    daily = world.env.json("daily")
    tokens = _samples(families, "usagectl_tokens")
    assert sum(s.value for s in tokens) == daily["totals"]["totalTokens"]
    by_kind = {k: sum(s.value for s in tokens if s.labels["kind"] == k)
               for k in ("input", "output", "cache_read")}  # fmt: skip
    assert by_kind["input"] == daily["totals"]["inputTokens"]
    assert by_kind["output"] == daily["totals"]["outputTokens"]
    assert by_kind["cache_read"] == daily["totals"]["cacheReadTokens"]
    cost = sum(s.value for s in _samples(families, "usagectl_cost_usd"))
    assert cost == pytest.approx(daily["totals"]["totalCost"], abs=1e-6)
    labels = tokens[0].labels
    assert set(labels) == {"account", "machine", "project", "model", "kind"}
    assert {s.labels["machine"] for s in tokens} == {"test-machine"}
    assert "/work/live" in {s.labels["project"] for s in tokens}
    # Per model, as `daily --breakdown` sums them.
    models: dict[str, float] = {}
    for day in daily["daily"]:
        for m in day["modelBreakdowns"]:
            models[m["modelName"]] = models.get(m["modelName"], 0) + m["cost"]
    for model, usd in models.items():
        got = sum(s.value for s in _samples(families, "usagectl_cost_usd")
                  if s.labels["model"] == model)  # fmt: skip
        assert got == pytest.approx(usd, abs=1e-6), model


def test_a_scrape_after_new_usage_counts_it(world: Served) -> None:
    before = sum(s.value for s in _samples(scrape(world), "usagectl_tokens"))
    live = world.env.claude / "projects" / "-work-live" / "live-session.jsonl"
    with live.open("a") as f:
        f.write(_assistant(9, NOW - timedelta(minutes=2), 777) + "\n")
    world.env.run("sync")
    after = sum(s.value for s in _samples(scrape(world), "usagectl_tokens"))
    assert after == before + 100 + 777 == world.env.json("daily")["totals"]["totalTokens"]


def test_gauges_follow_block_limits_and_machines(world: Served) -> None:
    families = scrape(world)
    active = world.env.json("blocks", "--active")["blocks"][0]

    def gauge(name: str, **labels: str) -> float:
        found = [s.value for s in families[name].samples if labels.items() <= s.labels.items()]
        assert len(found) == 1, (name, labels, families[name].samples)
        return float(found[0])

    assert gauge("usagectl_block_tokens", account="default") == active["totalTokens"]
    assert gauge("usagectl_block_cost_usd", account="default") == pytest.approx(active["costUSD"])
    assert gauge("usagectl_block_projected_tokens", account="default") > active["totalTokens"]
    assert gauge("usagectl_block_burn_rate_tokens_per_minute", account="default") > 0
    assert gauge("usagectl_block_token_limit", account="default") > 0
    remaining = gauge("usagectl_block_remaining_minutes", account="default")
    assert abs(remaining - active["projection"]["remainingMinutes"]) <= 1
    assert gauge("usagectl_official_utilisation_percent", window="5h") == 84.5
    assert gauge("usagectl_official_utilisation_percent", window="7d") == 12.0
    machine = world.env.json("machines")["machines"][0]
    up = 1 if machine["status"] == "online" else 0
    assert gauge("usagectl_machine_up", machine="test-machine") == up
    assert gauge("usagectl_producer_lag_bytes", machine="test-machine") == 0
    assert gauge("usagectl_processor_pending_messages") == 0
    assert gauge("usagectl_read_model_seq") > 0


def test_alerts_firing_by_rule(world: Served) -> None:
    """What the alerts consumer recorded: firing alerts counted per rule, resolved ones not."""
    import sqlite3

    from usagectl.processors.alert_store import DDL
    from usagectl.processors.consumers import db_path

    path = db_path(world.env.home, "alerts")
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(DDL)
    rows = [("a1", "daily-budget", "firing"), ("a2", "daily-budget", "firing"),
            ("a3", "official-5h", "firing"), ("a4", "official-5h", "resolved")]  # fmt: skip
    with conn:
        conn.executemany(
            "INSERT INTO alerts (id, rule, kind, account, window_key, start_ms, status, value, "
            "latest, threshold, trigger, unit, text, fired_ms, fired_seq, updated_ms) "
            "VALUES (?, ?, 'daily_cost', 'default', 'w', 0, ?, 1, 1, 1, 1, 'usd', 't', 0, 1, 0)",
            rows,
        )
    conn.close()
    firing = {s.labels["rule"]: s.value
              for s in scrape(world)["usagectl_alerts_firing"].samples}  # fmt: skip
    assert firing == {"daily-budget": 2, "official-5h": 1}


def test_project_label_off_and_token_off_loopback(world: Served) -> None:
    env = world.env
    env.extra["USAGECTL_METRICS_PROJECT_LABEL"] = "false"
    exposed = serve(env, "--host", "0.0.0.0", "--rate-limit", "0")
    try:
        assert exposed.request("/metrics").status == 401
        token = (env.home / "serve-token").read_text().strip()
        families = scrape(exposed, token=token)
    finally:
        exposed.stop()
        del env.extra["USAGECTL_METRICS_PROJECT_LABEL"]
    tokens = _samples(families, "usagectl_tokens")
    assert "project" not in tokens[0].labels
    assert sum(s.value for s in tokens) == env.json("daily")["totals"]["totalTokens"]


def test_bad_project_label_setting_is_one_line(world: Served) -> None:
    env = world.env
    env.extra["USAGECTL_METRICS_PROJECT_LABEL"] = "maybe"
    try:
        proc = env.run("serve", "--port", "0", check=False)
    finally:
        del env.extra["USAGECTL_METRICS_PROJECT_LABEL"]
    assert proc.returncode != 0
    assert "metrics.project_label" in proc.stderr and "Traceback" not in proc.stderr


# ---- a real Prometheus -------------------------------------------------------------------


def _query(port: int, promql: str) -> list[Any]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
    except OSError:
        return []
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _alerts(port: int) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}/api/v1/alerts"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
    except OSError:
        return {}
    return {a["labels"]["alertname"]: a["state"] for a in body["data"]["alerts"]}


def _start_prometheus(
    binary: str, where: Path, target: int, token: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """Prometheus with deploy/'s own config and alert rules, the paths and target pointed at
    this test's files and server, and one-second intervals."""
    where.mkdir(parents=True, exist_ok=True)
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    rules = str(DEPLOY / "prometheus" / "alerts.yml")
    for old, new in (("30s", "1s"), ("serve:8787", f"127.0.0.1:{target}"),
                     ("/etc/prometheus/usagectl-alerts.yml", rules),
                     ("/usagectl/serve-token", str(token))):  # fmt: skip
        assert old in config, old
        config = config.replace(old, new)
    (where / "prometheus.yml").write_text(config)
    port = free_port()
    with (where / "prometheus.log").open("ab") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={where / 'prometheus.yml'}",
             f"--storage.tsdb.path={where / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=log,
        )  # fmt: skip
    return process, port


def test_the_dashboard_is_what_the_sdk_builds() -> None:
    from grafana_dashboard import PATH, render

    assert PATH.read_text() == render(), "run .venv/bin/python tests/grafana_dashboard.py"


def test_a_real_prometheus_scrapes_it(world: Served, tmp_path: Path) -> None:
    from grafana_dashboard import PATH, queries

    binary = system_tool("prometheus", package="prometheus")
    exposed = serve(world.env, "--host", "0.0.0.0", "--rate-limit", "0")
    token = world.env.home / "serve-token"
    process, port = _start_prometheus(binary, tmp_path / "prom", exposed.port, token)
    try:
        expected = world.env.json("daily")["totals"]["totalTokens"]
        result = wait_for(lambda: _query(port, "sum(usagectl_tokens_total)"), 120,
                          "Prometheus to scrape usagectl")  # fmt: skip
        assert float(result[0]["value"][1]) == expected
        up = _query(port, 'up{job="usagectl"}')
        assert up and up[0]["value"][1] == "1"  # with serve's token, off loopback
        official = _query(port, 'usagectl_official_utilisation_percent{window="5h"}')
        assert float(official[0]["value"][1]) == 84.5
        # The example rule on Claude Code's 5-hour figure fires (84.5% >= 80%).
        wait_for(lambda: _alerts(port).get("UsagectlOfficialFiveHourHigh") == "firing", 120,
                 "the official 5h alert to fire")  # fmt: skip
        # Every dashboard query is valid PromQL with an answer (increase() once two scrapes
        # are in), as Grafana sends it.
        board = json.loads(PATH.read_text())
        for expr in queries(board):
            wait_for(lambda e=expr: _query(port, e.replace("$__range", "1h")), 120, expr)
    finally:
        process.terminate()
        process.wait(timeout=30)
        exposed.stop()
