"""Several machines into one hub: account-wide figures equal one machine over the union of
the corpora (also when a machine comes back a day late), per-machine figures sum to the
totals, and `machines` lists every producer with its health."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import Env, NatsServer, make_env, start_server
from corpus import generate

TOKEN_KEYS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")


def machine_env(where: Path, name: str, url: str, seed: int) -> Env:
    env = make_env(where / name, url)
    env.machine = name
    generate(env.claude, seed=seed, sessions=12, days=4, start="2026-09-01")
    return env


def reports(env: Env, *extra: str) -> dict[str, Any]:
    return {r: env.json(r, "-z", "UTC", *extra) for r in ("daily", "blocks", "monthly", "session")}


def test_three_machines_equal_one_machine_over_the_union(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    names = ("alpha", "beta", "gamma")
    seeds = (11, 12, 13)
    machines = [
        machine_env(tmp_path, n, nats_server.url, s) for n, s in zip(names, seeds, strict=True)
    ]
    reader = make_env(tmp_path / "reader", nats_server.url)
    reader.machine = "reader"

    # alpha and beta report; gamma is offline, then comes back with the same days' usage.
    for env in machines[:2]:
        env.run("sync")
    reader.run("sync")
    partial = reader.json("daily", "-z", "UTC")
    machines[2].run("sync")
    reader.run("sync")
    shared = reports(reader)
    assert shared["daily"] != partial  # gamma's late usage landed in days already reported

    other_hub = start_server(tmp_path / "other")
    try:
        single = make_env(tmp_path / "single", other_hub.url)
        single.extra["CLAUDE_CONFIG_DIR"] = ",".join(str(m.claude) for m in machines)
        single.run("sync")
        union = reports(single)
    finally:
        other_hub.kill()

    assert shared["daily"]["totals"] == union["daily"]["totals"]
    assert shared["daily"]["daily"] == union["daily"]["daily"]
    assert shared["monthly"] == union["monthly"]
    strip = [{k: v for k, v in b.items() if k != "burnRate" and k != "projection"}
             for b in shared["blocks"]["blocks"]]  # fmt: skip
    assert strip == [{k: v for k, v in b.items() if k not in ("burnRate", "projection")}
                     for b in union["blocks"]["blocks"]]  # fmt: skip
    assert len(shared["session"]["sessions"]) == len(union["session"]["sessions"])

    per_machine = [reader.json("daily", "-z", "UTC", "--machine", n)["totals"] for n in names]
    for key in (*TOKEN_KEYS, "totalTokens"):
        assert sum(t[key] for t in per_machine) == shared["daily"]["totals"][key]
    cost = sum(t["totalCost"] for t in per_machine)
    assert abs(cost - shared["daily"]["totals"]["totalCost"]) < 1e-6
    for name, totals in zip(names, per_machine, strict=True):
        truth = json.loads((tmp_path / name / "claude" / "ground_truth.json").read_text())
        assert totals["totalTokens"] == truth["totals"]["totalTokens"]


def test_machines_lists_each_producer_with_its_health(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    alpha = machine_env(tmp_path, "alpha.example.com", nats_server.url, 21)
    beta = machine_env(tmp_path, "beta box ✓", nats_server.url, 22)
    (beta.claude / "projects" / "p" / "broken.jsonl").parent.mkdir(parents=True, exist_ok=True)
    (beta.claude / "projects" / "p" / "broken.jsonl").write_text('{"type":"assistant",\n')
    alpha.run("sync")
    beta.run("sync")
    alpha.run("sync")  # alpha's read model now holds beta's usage and heartbeat too

    report = alpha.json("machines")
    rows = {row["machine"]: row for row in report["machines"]}
    assert set(rows) == {"alpha.example.com", "beta box ✓"}
    beta_row = rows["beta box ✓"]
    assert beta_row["status"] == "online"
    assert beta_row["version"]
    assert beta_row["filesWatched"] >= 12
    assert beta_row["rejectedLines"] >= 1 and beta_row["rejected"]
    assert beta_row["lagBytes"] == 0
    beta_daily = alpha.json("daily", "-z", "UTC", "--machine", "beta box ✓")["totals"]
    assert beta_row["entries"] > 0
    assert abs(beta_row["totalCost"] - beta_daily["totalCost"]) < 1e-6
    assert report["summary"] == {"machines": 2, "online": 2, "offline": 0, "unknown": 0}
    table = alpha.run("machines").stdout
    assert "alpha.example.com" in table and "online" in table


def test_machines_without_read_model_is_one_line(env: Env) -> None:
    proc = env.run("machines", check=False)
    assert proc.returncode == 1
    assert "usagectl sync" in proc.stderr and proc.stderr.count("\n") == 1


def test_doctor_names_refused_credentials_without_printing_them(tmp_path: Path) -> None:
    from usagectl.processors.embedded import start_server

    server, port, _ = start_server(
        ["-js", "-a", "127.0.0.1", "-p", "-1", "-sd", str(tmp_path / "store"),
         "--user", "hub-user", "--pass", "right-secret-pw"],
        tmp_path / "ports", tmp_path / "hub.log",
    )  # fmt: skip
    try:
        env = make_env(tmp_path / "m", f"nats://127.0.0.1:{port}")
        env.extra |= {"USAGECTL_NATS_USER": "hub-user", "USAGECTL_NATS_PASSWORD": "wrong-pw-xyz"}
        proc = env.run("doctor", check=False)
        assert proc.returncode == 1
        assert "refused our credentials" in proc.stdout
        assert "wrong-pw-xyz" not in proc.stdout + proc.stderr
        env.extra["USAGECTL_NATS_PASSWORD"] = "right-secret-pw"
        generate(env.claude, seed=5, sessions=3, days=1)
        env.run("sync")
        report = env.json("doctor")
        assert report["bus"]["auth"] == "accepted"
        assert not [p for p in report["problems"] if p.startswith("hub")]
        assert report["bus"]["messages"] > 0 and report["bus"]["retention"] == "keep forever"
        assert report["bus"]["history_since"]
        assert report["bus"]["machines_heartbeating"] == 1
        assert "right-secret-pw" not in env.run("doctor").stdout
    finally:
        server.kill()
        server.wait()
