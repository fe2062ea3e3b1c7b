"""`usagectl export` and `GET /api/export`: rows per day, session, model, project or machine,
as CSV, JSON or JSON Lines; the same bytes from both, and the same totals as the reports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from conftest import Env, make_env, start_server
from corpus import generate
from serving import Served, serve
from usagectl.processors.app.export_rows import columns
from usagectl.processors.app.parsing import EXPORT_BY


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("export")
    hub = start_server(root)
    other = make_env(root / "desktop", hub.url)
    other.machine = "desktop"
    generate(other.claude, seed=52, sessions=6, days=4)
    other.run("sync")
    env = make_env(root / "laptop", hub.url)
    generate(env.claude, seed=51, sessions=20, days=6)
    env.run("sync")
    yield env
    hub.kill()


def export(env: Env, *args: str) -> str:
    return env.run("export", "-z", "UTC", *args).stdout


@pytest.mark.parametrize("by", EXPORT_BY)
def test_every_grouping_adds_up_to_the_reports(synced: Env, by: str) -> None:
    doc = json.loads(export(synced, "--format", "json", "--by", by))
    report = "session" if by == "session" else "daily"
    assert doc["totals"] == synced.json(report, "-z", "UTC")["totals"]
    assert doc["by"] == by and doc["timezone"] == "UTC"
    assert all(list(r) == list(columns(by)) for r in doc["rows"])
    if by == "machine":
        assert {r["machine"] for r in doc["rows"]} == {"desktop", "test-machine"}
    if by != "day":  # most expensive first
        costs = [r["totalCost"] for r in doc["rows"]]
        assert costs == sorted(costs, reverse=True)
    lines = export(synced, "--format", "jsonl", "--by", by).splitlines()
    assert [json.loads(x) for x in lines] == doc["rows"]
    table = list(csv.reader(io.StringIO(export(synced, "--by", by))))  # csv is the default
    assert tuple(table[0]) == columns(by)
    assert len(table) - 1 == len(doc["rows"])
    cost = table[0].index("totalCost")
    assert sum(float(r[cost]) for r in table[1:]) == pytest.approx(doc["totals"]["totalCost"])


def test_a_date_range_and_filters(synced: Env) -> None:
    doc = json.loads(export(synced, "--format", "json", "--from", "2026-09-02",
                            "--to", "20260904"))  # fmt: skip
    daily = synced.json("daily", "-z", "UTC", "--since", "2026-09-02", "--until", "2026-09-04")
    assert [r["date"] for r in doc["rows"]] == [r["date"] for r in daily["daily"]]
    assert [r["totalCost"] for r in doc["rows"]] == [r["totalCost"] for r in daily["daily"]]
    assert doc["from"] == "2026-09-02" and doc["to"] == "2026-09-04"
    mine = json.loads(export(synced, "--format", "json", "--by", "machine", "--machine",
                             "desktop"))  # fmt: skip
    assert [r["machine"] for r in mine["rows"]] == ["desktop"]
    sessions = json.loads(export(synced, "--format", "json", "--by", "session", "--from",
                                 "2026-09-03", "--to", "2026-09-03"))  # fmt: skip
    assert sessions["rows"] and all(r["lastActivity"].startswith("2026-09-03")
                                    for r in sessions["rows"])  # fmt: skip
    # Local days in a +5:45 zone: the same rows as `daily` in that zone.
    args = ("--from", "2026-09-02", "--to", "2026-09-04")
    nepal = json.loads(synced.run("export", "--format", "json", "-z", "Asia/Kathmandu",
                                  *args).stdout)  # fmt: skip
    report = synced.json("daily", "-z", "Asia/Kathmandu", "--since", args[1], "--until", args[3])
    assert [(r["date"], r["totalTokens"]) for r in nepal["rows"]] == [
        (r["date"], r["totalTokens"]) for r in report["daily"]]  # fmt: skip


def test_output_file_and_http_give_the_same_bytes(synced: Env) -> None:
    target = synced.root / "usage.csv"
    synced.run("export", "-z", "UTC", "--by", "project", "-o", str(target))
    assert target.read_bytes().decode() == export(synced, "--by", "project")
    served: Served = serve(synced)
    try:
        cases = (("csv", "project", "text/csv"), ("json", "session", "application/json"),
                 ("jsonl", "day", "application/x-ndjson"))  # fmt: skip
        days = {"from": "2026-09-01", "to": "2026-09-05"}
        for fmt, by, media in cases:
            query = {"format": fmt, "by": by, "timezone": "UTC", **days}
            reply = served.request("/api/export", query)
            assert reply.status == 200
            assert reply.headers["content-type"].startswith(media)
            assert f'filename="usage-by-{by}.{fmt}"' in reply.headers["content-disposition"]
            cli = export(synced, "--format", fmt, "--by", by, "--from", "2026-09-01", "--to",
                         "2026-09-05")  # fmt: skip
            assert reply.body.decode() == cli
    finally:
        served.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "xml"), "invalid --format"),
        (("--by", "colour"), "invalid --by"),
        (("--from", "2026-09-05", "--to", "2026-09-01"), "invalid range"),
        (("--from", "last week"), "invalid --from"),
        (("--mode", "cheap"), "invalid --mode"),
    ],
)
def test_bad_input_is_one_clear_line(synced: Env, args: tuple[str, ...], message: str) -> None:
    proc = synced.run("export", *args, check=False)
    assert proc.returncode == 1 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
