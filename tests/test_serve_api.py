"""`usagectl serve`'s JSON API against a real hub and read model: every report has the CLI's
`--json` shape for the same filters, bad parameters are clear 4xx (never a 500), the access
token guards non-loopback binds, and clients are rate limited."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import USAGECTL, Env, NatsServer, make_env, start_server
from corpus import generate
from hookdata import SESSION, recording, send
from hookdata import transcript as hook_transcript
from serving import Served, serve
from usagectl.processors.bus import BusSettings, connect, ensure_streams
from usagectl.projections.events import Limit, encode, subject

NOW = datetime.now(UTC)


def _assistant(n: int, at: datetime, out: int) -> str:
    return json.dumps({
        "type": "assistant", "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "sessionId": "live-session", "cwd": "/work/live", "requestId": f"req_api_{n}",
        "message": {"id": f"msg_api_{n}", "model": "claude-sonnet-4-5-20250929",
                    "usage": {"input_tokens": 100, "output_tokens": out}}})  # fmt: skip


async def _publish_limit(url: str) -> None:
    bus = BusSettings(url=url)
    nc = await connect(bus)
    js = nc.jetstream()
    await ensure_streams(js, bus)
    limit = Limit(event_id="limit-api-1", ts=NOW - timedelta(minutes=5), machine="test-machine",
                  account="default", session_id="live-session", five_hour_pct=42.5,
                  five_hour_resets_at=NOW + timedelta(hours=2), seven_day_pct=12.0)  # fmt: skip
    await js.publish(subject(bus.prefix, "limit", limit.machine), encode(limit),
                     headers={"Nats-Msg-Id": limit.event_id})  # fmt: skip
    await nc.close()


def _plan(project: Path) -> None:
    active = project / "dev" / "active" / "auth"
    active.mkdir(parents=True)
    (active / "plan.md").write_text("# Auth\n")
    lines = [{"id": "F001", "file": "prompts/01.md", "status": "in_progress",
              "description": "login", "depends_on": []}]  # fmt: skip
    (active / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Two machines' history (September), hooks, a plan, an official limit, and a live session
    in the current 5-hour block, synced into one read model and served."""
    root = tmp_path_factory.mktemp("serve-api")
    hub = start_server(root)
    desktop = make_env(root / "desktop", hub.url)
    desktop.machine = "desktop"
    generate(desktop.claude, seed=22, sessions=8, days=5)
    desktop.run("sync")
    env = make_env(root / "laptop", hub.url)
    generate(env.claude, seed=21, sessions=25, days=8)
    hook_transcript(env.claude)
    for data in recording():
        send(USAGECTL, env.vars(), data)
    live = env.claude / "projects" / "-work-live" / "live-session.jsonl"
    live.parent.mkdir(parents=True)
    live.write_text("".join(_assistant(n, NOW - timedelta(minutes=40 - n), 500 * n) + "\n"
                            for n in range(1, 6)))  # fmt: skip
    asyncio.run(_publish_limit(hub.url))
    _plan(root / "proj")
    env.run("sync", "--plans", str(root / "proj"))
    served = serve(env, "--rate-limit", "0")  # the fuzz test sends a thousand requests
    yield served
    served.stop()
    hub.kill()


# API parameter -> CLI option (booleans are flags).
FLAGS = {"timezone": "--timezone", "since": "--since", "until": "--until", "machine": "--machine",
         "project": "--project", "mode": "--mode", "order": "--order",
         "start_of_week": "--start-of-week", "session_length": "--session-length",
         "token_limit": "--token-limit", "active": "--active", "recent": "--recent",
         "session": "--session", "days": "--days", "day": "--day"}  # fmt: skip
COMMAND = {"sessions": "session"}


def cli_json(env: Env, report: str, query: dict[str, Any]) -> Any:
    args = [COMMAND.get(report, report)]
    for name, value in query.items():
        args += [FLAGS[name]] if value is True else [FLAGS[name], str(value)]
    return env.json(*args)


PARITY = [
    ("daily", {}),
    ("daily", {"timezone": "UTC", "since": "2026-09-03", "until": "20260906"}),
    ("daily", {"timezone": "Pacific/Kiritimati", "order": "desc", "mode": "calculate"}),
    ("daily", {"machine": "desktop"}),
    ("daily", {"project": "live"}),
    ("weekly", {"start_of_week": "monday", "mode": "display"}),
    ("weekly", {"timezone": "America/New_York"}),
    ("monthly", {"order": "desc"}),
    ("sessions", {}),
    ("sessions", {"machine": "desktop", "since": "2026-09-02"}),
    ("sessions", {"project": "/work/live", "mode": "calculate"}),
    ("blocks", {"until": "2026-10-01"}),
    ("blocks", {"machine": "desktop", "order": "desc", "token_limit": "max"}),
    ("blocks", {"session_length": "3", "until": "2026-10-01", "mode": "display"}),
    ("blocks", {"recent": True, "token_limit": "500000", "since": "2026-01-01"}),
    ("tools", {}),
    ("tools", {"project": "hooked", "session": "0d6c8f7e-hooks-session", "timezone": "UTC"}),
    ("tools", {"machine": "nowhere"}),
    ("plans", {}),
    ("plans", {"project": "proj"}),
]


@pytest.mark.parametrize(("report", "query"), PARITY)
def test_reports_have_the_clis_json_for_the_same_filters(
    world: Served, report: str, query: dict[str, Any]
) -> None:
    api = world.get(f"/api/{report}", **query)
    if report == "blocks" and query.get("recent"):
        # The active block's burn rate and projection move with the clock: compare the rest.
        for row in api["blocks"]:
            row.pop("burnRate"), row.pop("projection"), row.pop("tokenLimitStatus", None)
        cli = cli_json(world.env, report, query)
        for row in cli["blocks"]:
            row.pop("burnRate"), row.pop("projection"), row.pop("tokenLimitStatus", None)
        assert api["blocks"] and api == cli
        return
    assert api == cli_json(world.env, report, query)


def test_machines_are_the_clis_report(world: Served) -> None:
    api, cli = world.get("/api/machines"), world.env.json("machines")
    for doc in (api, cli):  # heartbeat ages move with the clock between the two calls
        for row in doc["machines"]:
            row.pop("secondsSinceHeartbeat"), row.pop("status")
        doc.pop("summary")
    assert api == cli
    assert {m["machine"] for m in api["machines"]} == {"test-machine", "desktop"}


def test_the_corpus_exercises_every_report(world: Served) -> None:
    assert len(world.get("/api/daily")["daily"]) >= 8
    assert world.get("/api/daily", machine="desktop")["daily"]
    assert world.get("/api/tools")["totals"]["calls"] >= 4
    assert world.get("/api/plans")["plans"][0]["features"][0]["status"] == "in_progress"
    active = world.get("/api/blocks", active="true")["blocks"]
    assert len(active) == 1 and active[0]["isActive"]


def test_limits_are_the_official_figures_blocks_carries(world: Served) -> None:
    limits = world.get("/api/limits")["limits"]
    assert limits["fiveHour"]["usedPercentage"] == 42.5
    assert limits["sevenDay"]["usedPercentage"] == 12.0
    assert limits == world.env.json("blocks")["limits"]


def test_trends_match_the_cli_and_add_up(world: Served) -> None:
    query = {"timezone": "UTC", "days": 120, "day": NOW.strftime("%Y-%m-%d")}
    api = world.get("/api/trends", **query)
    cli = cli_json(world.env, "trends", query)
    for doc in (api, cli):  # these move with the clock between the two calls
        doc.pop("now"), doc["monthToDate"].pop("elapsedDays"), doc["monthToDate"].pop(
            "projectedCost"), doc.pop("weekOverWeek")  # fmt: skip
    assert api == cli
    daily = world.get("/api/daily", timezone="UTC")["totals"]
    assert api["totalCost"] == pytest.approx(daily["totalCost"])
    assert sum(m["cost"] for m in api["modelMix"]) == pytest.approx(daily["totalCost"])
    (day,) = world.get("/api/daily", timezone="UTC", since=query["day"], until=query["day"])[
        "daily"]  # fmt: skip
    assert api["hourly"]["totalTokens"] == day["totalTokens"]
    assert sum(h["tokens"] for h in api["hourly"]["hours"]) == day["totalTokens"]


def test_dashboard_has_every_panel(world: Served) -> None:
    d = world.get("/api/dashboard", timezone="UTC")
    today = world.get("/api/daily", timezone="UTC", since=NOW.strftime("%Y-%m-%d"))["totals"]
    assert today["totalCost"] > 0
    assert d["today"]["totalCost"] == pytest.approx(today["totalCost"])
    assert len(d["days"]) == 30 and d["days"][-1]["date"] == NOW.strftime("%Y-%m-%d")
    assert d["blocks"]["account"]["isActive"] and d["blocks"]["account"]["burnRate"]
    assert [m["machine"] for m in d["blocks"]["machines"]] == ["test-machine"]
    assert d["limits"]["fiveHour"]["usedPercentage"] == 42.5
    assert {s["sessionId"] for s in d["sessions"]} == {"live-session", SESSION}
    assert d["projects"][0]["project"] in ("/work/live", "/work/hooked")
    assert {m["machine"] for m in d["machines"]} == {"test-machine", "desktop"}  # both synced
    assert d["alerts"] == []
    assert d["seq"] == world.get("/api/health")["readModelSeq"] > 0


def test_every_endpoint_answers_json_with_its_defaults(world: Served) -> None:
    from usagectl.web.api import ENDPOINTS

    for ep in ENDPOINTS:
        reply = world.request(ep.path)
        assert reply.status == 200, (ep.path, reply.body[:300])
        if ep.path == "/api/export":
            assert reply.headers["content-type"].startswith("text/csv")  # the CLI's default
        else:
            assert isinstance(reply.json(), dict)
            assert reply.headers["cache-control"] == "no-store"


def test_openapi_describes_every_endpoint_and_parameter(world: Served) -> None:
    from usagectl.web.api import ENDPOINTS

    doc = world.get("/api/openapi.json")
    assert doc["openapi"].startswith("3.1")
    expected = {e.path for e in ENDPOINTS} | {"/events", "/api/openapi.json"}
    assert set(doc["paths"]) == expected
    for ep in ENDPOINTS:
        names = [p["name"] for p in doc["paths"][ep.path]["get"]["parameters"]]
        assert names == [p.name for p in ep.params]
    for report in ("daily", "weekly", "monthly", "sessions", "blocks", "machines", "tools",
                   "plans", "alerts", "limits", "trends", "export"):  # fmt: skip
        assert f"/api/{report}" in doc["paths"]


BAD = [
    ("/api/daily", {"timezone": "Mars/Olympus"}, "invalid timezone"),
    ("/api/daily", {"since": "2026-13-45"}, "invalid since"),
    ("/api/daily", {"until": "yesterday"}, "invalid until"),
    ("/api/daily", {"mode": "cheap"}, "invalid mode"),
    ("/api/daily", {"order": "sideways"}, "invalid order"),
    ("/api/daily", {"colour": "blue"}, "unknown parameter 'colour'"),
    ("/api/daily", {"machine": ""}, "invalid machine: empty"),
    ("/api/weekly", {"start_of_week": "someday"}, "invalid start_of_week"),
    ("/api/blocks", {"token_limit": "lots"}, "invalid token_limit"),
    ("/api/blocks", {"token_limit": "-5"}, "invalid token_limit"),
    ("/api/blocks", {"session_length": "0"}, "must be at least"),
    ("/api/blocks", {"session_length": "inf"}, "not a finite number"),
    ("/api/blocks", {"active": "maybe"}, "invalid active"),
    ("/api/alerts", {"limit": "1.5"}, "not an integer"),
    ("/api/trends", {"days": "0"}, "must be at least 1"),
    ("/api/trends", {"day": "2026-02-30"}, "invalid day"),
    ("/api/export", {"format": "xml"}, "invalid format"),
    ("/api/export", {"by": "colour"}, "invalid by"),
    ("/api/export", {"from": "2026-09-05", "to": "2026-09-01"}, "invalid range"),
    ("/api/dashboard", {"after": "-1"}, "must be at least 0"),
    ("/api/limits", {"x": "1"}, "unknown parameter"),
    ("/api/daily", {"project": "x" * 300}, "longer than 256"),
    ("/api/daily", {"project": "a\x00b"}, "NUL"),
]


@pytest.mark.parametrize(("path", "query", "message"), BAD)
def test_bad_parameters_are_a_clear_400(world: Served, path: str, query: dict[str, str],
                                        message: str) -> None:  # fmt: skip
    reply = world.request(path, query)
    assert reply.status == 400, (reply.status, reply.body)
    assert reply.headers["content-type"] == "application/json"
    assert message in reply.json()["error"]


GARBAGE = ["", " ", "-1", "0", "9" * 40, "1e309", "nan", "☃", "2026-02-30", "../../etc/passwd",
           "'; DROP TABLE rollup; --", "\" OR 1=1 --", "%", "max", "true", "x" * 257]  # fmt: skip


def test_no_value_in_any_parameter_makes_a_500(world: Served) -> None:
    from usagectl.web.api import ENDPOINTS

    before = world.get("/api/daily")
    for ep in ENDPOINTS:
        for param in ep.params:
            for value in GARBAGE:
                reply = world.request(ep.path, {param.name: value})
                assert reply.status in (200, 400), (ep.path, param.name, value, reply.body)
                assert reply.status == 200 or "error" in reply.json()
        reply = world.request(ep.path, {"a": "1", "b": "2"})
        assert reply.status == 400
    repeated = world.request("/api/daily?machine=a&machine=b")
    assert repeated.status == 400 and "more than once" in repeated.json()["error"]
    assert world.get("/api/daily") == before  # and the read model is as it was


def test_sql_text_in_a_filter_is_a_value_not_sql(world: Served) -> None:
    for project in ("' OR 1=1 --", "live' OR project LIKE '%", "%", "_"):
        assert world.get("/api/daily", project=project)["daily"] == [], project
        assert world.get("/api/sessions", project=project)["sessions"] == [], project
    assert world.get("/api/daily", machine="desktop' OR '1'='1")["daily"] == []


def test_unknown_paths_methods_and_hosts(world: Served) -> None:
    missing = world.request("/api/nothing")
    assert missing.status == 404 and missing.json() == {"error": "not found: /api/nothing"}
    assert world.request("/static/..%2Fapp.py").status == 404
    assert world.request("/static/index.html").status == 404  # only the page's own assets
    posted = world.request("/api/daily", method="POST")
    assert posted.status == 405 and "use GET" in posted.json()["error"]
    # Loopback binds answer to loopback names only (DNS rebinding).
    evil = world.request("/api/daily", headers={"Host": "evil.example"})
    assert evil.status == 400 and "Host" in evil.json()["error"]
    for host in ("localhost", f"localhost:{world.port}", f"[::1]:{world.port}", "127.0.0.1"):
        assert world.request("/api/health", headers={"Host": host}).status == 200, host


def test_the_page_and_its_assets(world: Served) -> None:
    page = world.request("/")
    assert page.status == 200 and b'id="today-cost"' in page.body
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        reply = world.request(f"/static/{asset}")
        assert reply.status == 200 and reply.headers["content-type"].startswith(kind)


def test_any_other_bind_needs_the_token(world: Served) -> None:
    env = world.env
    exposed = serve(env, "--host", "0.0.0.0")
    try:
        token_file = env.home / "serve-token"
        token = token_file.read_text().strip()
        assert len(token) >= 40
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        for path in ("/api/daily", "/api/health", "/api/openapi.json", "/events"):
            bare = exposed.request(path)
            assert bare.status == 401, path
            assert bare.headers["www-authenticate"] == "Bearer"
            assert "access token" in bare.json()["error"]
            assert exposed.request(path, token="wrong" + token).status == 401
        assert exposed.request("/api/daily", token=token).json() == world.get("/api/daily")
        assert exposed.request("/api/daily", headers={"Authorization": token}).status == 401
        # The page holds no data: it loads, then asks for the token.
        assert exposed.request("/").status == 200
        assert exposed.request("/static/app.js").status == 200
        # Any host name may reach a non-loopback bind; the token is what guards it.
        named = exposed.request("/api/health", token=token, headers={"Host": "usage.lan"})
        assert named.status == 200
    finally:
        assert exposed.stop() == 0
    # The token is kept: the next exposed server uses the same one.
    again = serve(env, "--host", "0.0.0.0")
    try:
        assert again.request("/api/health", token=token).status == 200
    finally:
        again.stop()


def test_clients_are_rate_limited(world: Served) -> None:
    limited = serve(world.env, "--rate-limit", "2")  # 2/s sustained, bursts of 10
    try:
        statuses = [limited.request("/api/health").status for _ in range(30)]
        assert statuses[:5] == [200] * 5 and 429 in statuses
        refused = limited.request("/api/health")
        assert refused.status == 429 and int(refused.headers["retry-after"]) >= 1
        assert "too many requests" in refused.json()["error"]
        time.sleep(1.2)
        assert limited.request("/api/health").status == 200
    finally:
        limited.stop()


def test_a_taken_port_is_one_clear_line(world: Served) -> None:
    proc = world.env.run("serve", "--port", str(world.port), check=False, timeout=30)
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{world.port}" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    bad = world.env.run("serve", "--port", "70000", check=False)
    assert bad.returncode == 1 and "invalid --port" in bad.stderr


def test_alerts_are_the_clis_rows(tmp_path: Path, nats_server: NatsServer) -> None:
    env = make_env(tmp_path / "m", nats_server.url)
    generate(env.claude, seed=23, sessions=4, days=2)
    env.home.mkdir(parents=True)
    (env.home / "config.toml").write_text(
        '[consumers]\nenabled = ["alerts"]\n[alerts]\ntimezone = "UTC"\nmax_age = "none"\n'
        '[[alerts.rules]]\nname = "daily"\nkind = "daily_cost"\nthreshold = 0.01\n'
        '[[alerts.sinks]]\ntype = "log"\n'
    )
    env.run("sync")
    cli = json.loads(env.run("alerts", "--json").stdout)
    assert len(cli) == 2 and all(a["rule"] == "daily" for a in cli)
    served = serve(env)
    try:
        assert served.get("/api/alerts")["alerts"] == cli
        assert served.get("/api/alerts", limit=1)["alerts"] == cli[:1]
        assert served.get("/api/dashboard")["alerts"] == cli
    finally:
        served.stop()
