"""`usagectl prices` and `prices update`: LiteLLM's file, from a path or a loopback URL, merged
over the bundled table, kept in the data directory, and the read model recosted."""

from __future__ import annotations

import functools
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Env

LITELLM = {
    "sample_spec": {"input_cost_per_token": 0, "litellm_provider": "one of the providers"},
    # Unknown to the bundled table: newly priced, for all of its history.
    "claude-zephyr-9": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
                        "cache_read_input_token_cost": 1.5e-07, "litellm_provider": "anthropic"},
    # The same id as a Bedrock regional row carries a premium: the plain row wins.
    "us.anthropic.claude-zephyr-9-v1:0": {"input_cost_per_token": 3.3e-06,
                                          "output_cost_per_token": 1.65e-05},
    # Known, with a zero and a missing field: never turned into 0.
    "claude-haiku-4-5": {"input_cost_per_token": 1e-06, "output_cost_per_token": 5e-06,
                         "cache_read_input_token_cost": 0},
    # Known, no price at all: ignored.
    "claude-opus-5-5": {"input_cost_per_token": 0, "output_cost_per_token": 0},
    # Known, a different price: in force from the day of the update only.
    "claude-sonnet-5-5": {"input_cost_per_token": 2e-06, "output_cost_per_token": 1.2e-05,
                          "cache_read_input_token_cost": 1e-07},
    "gpt-5": {"input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05},
}  # fmt: skip


def line(n: int, model: str) -> str:
    return json.dumps({
        "type": "assistant", "timestamp": f"2026-10-0{n}T10:00:00.000Z", "sessionId": "s",
        "cwd": "/w/p", "requestId": f"req_{n}",
        "message": {"id": f"msg_{n}", "model": model, "usage": {
            "input_tokens": 10_000, "output_tokens": 1_000, "cache_read_input_tokens": 100_000}},
    }) + "\n"  # fmt: skip


@pytest.fixture
def synced(env: Env) -> Env:
    f = env.claude / "projects" / "-w-p" / "s.jsonl"
    f.parent.mkdir(parents=True)
    f.write_text(line(7, "claude-zephyr-9") + line(8, "claude-sonnet-5-5"))
    env.run("sync")
    return env


def daily(env: Env) -> dict[str, Any]:
    report: dict[str, Any] = env.json("daily", "-z", "UTC")
    return report


def cost_of(report: dict[str, Any], model: str) -> float:
    total: float = sum(
        b["cost"] for r in report["daily"] for b in r["modelBreakdowns"] if b["modelName"] == model
    )
    return total


# Hand-computed: zephyr at LiteLLM's $3 / $15 / read $0.15: 0.03 + 0.015 + 0.015 = $0.06;
# sonnet-5-5 on 2026-10-08 (bundled, read $0.10): 0.02 + 0.01 + 0.01 = $0.04.
ZEPHYR, SONNET = 0.06, 0.04


def check_updated(env: Env) -> None:
    report = daily(env)
    assert "unpricedModels" not in report["totals"]
    assert round(cost_of(report, "claude-zephyr-9"), 2) == ZEPHYR
    assert round(cost_of(report, "claude-sonnet-5-5"), 2) == SONNET
    assert round(report["totals"]["totalCost"], 2) == ZEPHYR + SONNET
    table = env.json("prices")
    assert table["update"]["day"] == datetime.now(UTC).date().isoformat()
    rows = {(r["model"], r["effectiveFrom"]): r for r in table["prices"]}
    zephyr = rows["claude-zephyr-9", None]
    assert (zephyr["input"], zephyr["output"], zephyr["cacheRead"]) == (3.0, 15.0, 0.15)
    assert zephyr["source"].startswith("LiteLLM")
    haiku = [r for (m, _), r in rows.items() if m == "claude-haiku-4-5"]
    assert [r["cacheRead"] for r in haiku] == [0.1]  # a 0 never replaces a known price
    assert [r["input"] for (m, _), r in rows.items() if m == "claude-opus-5-5"] == [4.0]
    sonnet = sorted((d or "", r["output"], r["cacheRead"]) for (m, d), r in rows.items()
                    if m == "claude-sonnet-5-5")  # fmt: skip
    assert sonnet == [("2026-09-28", 10.0, 0.2), ("2026-10-07", 10.0, 0.1),
                      (table["update"]["day"], 12.0, 0.1)]  # fmt: skip
    assert not any(m.startswith("gpt") for m, _ in rows)


def test_prices_shows_the_bundled_table_with_dates_and_sources(env: Env) -> None:
    table = env.json("prices")
    assert table["origin"] == "bundled" and table["update"] is None
    haiku = next(r for r in table["prices"] if r["model"] == "claude-haiku-5-5")
    assert haiku["band"]["aboveTokens"] == 100_000 and haiku["band"]["output"] == 2.5
    assert haiku["effectiveFrom"] == "2026-10-07" and "fall 2026" in haiku["source"]
    assert table["inferenceGeoMultipliers"] == {"us": 1.1}
    text = env.run("prices").stdout
    assert "claude-sonnet-5-5" in text and "2026-10-07" in text


def test_update_from_a_file_prices_the_unknown_model_and_recosts(
    synced: Env, tmp_path: Path
) -> None:
    before = daily(synced)
    assert before["totals"]["unpricedModels"] == ["claude-zephyr-9"]
    assert round(before["totals"]["totalCost"], 2) == SONNET
    source = tmp_path / "model_prices_and_context_window.json"
    source.write_text(json.dumps(LITELLM))
    done = synced.run("prices", "update", "--from", str(source))
    assert "1 newly priced: claude-zephyr-9" in done.stderr, done.stderr
    assert "recosted" in done.stderr
    kept = synced.home / "prices" / "model_prices_and_context_window.json"
    assert kept.read_bytes() == source.read_bytes()
    check_updated(synced)
    # A later replay keeps the merged prices: every process installs the kept table.
    synced.run("replay")
    check_updated(synced)


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_update_from_a_loopback_url(synced: Env, http_root: tuple[str, Path]) -> None:
    url, root = http_root
    (root / "prices.json").write_text(json.dumps(LITELLM))
    done = synced.run("prices", "update", "--from", f"{url}/prices.json")
    assert "recosted" in done.stderr
    check_updated(synced)
    assert synced.json("prices")["update"]["source"] == f"{url}/prices.json"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", "not a JSON object of models"),
        (json.dumps({"gpt-5": LITELLM["gpt-5"]}), "prices no Claude model"),
        (json.dumps({"claude-opus-5-5": LITELLM["claude-opus-5-5"]}), "prices no Claude model"),
    ],
)
def test_a_bad_file_is_one_clear_line_and_changes_nothing(
    synced: Env, tmp_path: Path, content: str, says: str
) -> None:
    before = daily(synced)
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    done = synced.run("prices", "update", "--from", str(bad), check=False)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (synced.home / "prices").exists()
    assert daily(synced) == before


def test_missing_file_and_unreachable_url_change_nothing(
    synced: Env, tmp_path: Path, http_root: tuple[str, Path]
) -> None:
    url, _ = http_root
    for source, says in ((str(tmp_path / "absent.json"), "cannot read"),
                         (f"http://127.0.0.1:{_closed_port()}/p.json", "cannot fetch"),
                         (f"{url}/absent.json", "cannot fetch")):  # fmt: skip
        done = synced.run("prices", "update", "--from", source, check=False)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert says in done.stderr and "Traceback" not in done.stderr
    assert not (synced.home / "prices").exists()
