"""A 3-node JetStream cluster (deploy/cluster/n*.conf as committed, moved to free ports) with
R3 streams: the stream leader is SIGKILLed while `usagectl up` ingests a corpus and live lines
arrive; ingestion and `watch` go on, the node comes back, and the read model equals both the
corpus' ground truth and a clean replay."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import USAGECTL, Env, make_env
from corpus import generate
from hubs import DEPLOY, Hub, Watch, append_live, wait_until
from ports import free_port


def start_cluster(where: Path) -> list[Hub]:
    """The committed node configs, each on free client/cluster/monitor ports and its own
    store, routes pointing at the others' new cluster ports."""
    where.mkdir(parents=True)
    cluster_ports = [free_port() for _ in range(3)]
    routes = ",".join(f"nats://127.0.0.1:{p}" for p in cluster_ports)
    nodes = []
    for i, cport in enumerate(cluster_ports, start=1):
        text = (DEPLOY / "cluster" / f"n{i}.conf").read_text()
        assert f'store_dir: "./usagectl-cluster/n{i}"' in text
        conf = where / f"n{i}.conf"
        conf.write_text(text.replace(f"./usagectl-cluster/n{i}", str(where / f"n{i}-store")))
        args = ("--cluster", f"nats://127.0.0.1:{cport}", "--routes", routes)
        nodes.append(Hub(conf, 0, 0, where / f"n{i}.log", args=args))
    try:
        for node in nodes:
            node.start()
    except BaseException:
        for node in nodes:
            node.kill()
        raise
    wait_until(lambda: _meta_leader(nodes[0]) is not None, 120, "a JetStream meta leader")
    return nodes


def _meta_leader(node: Hub) -> str | None:
    try:
        leader: str | None = node.monitoring("jsz").get("meta_cluster", {}).get("leader")
        return leader
    except OSError:
        return None


def stream_leader(nodes: list[Hub], stream: str) -> int | None:
    """Index of the node leading ``stream`` (asked of any live node)."""
    for node in nodes:
        try:
            data = node.monitoring("jsz?accounts=true&streams=true")
        except OSError:
            continue
        for account in data.get("account_details", []):
            for s in account.get("stream_detail", []):
                if s["name"] == stream and s.get("cluster", {}).get("leader"):
                    name = s["cluster"]["leader"]
                    return int(name.rsplit("n", 1)[-1]) - 1
    return None


def stream_replicas(nodes: list[Hub], stream: str) -> int:
    data = nodes[0].monitoring("jsz?accounts=true&streams=true&config=true")
    for account in data.get("account_details", []):
        for s in account.get("stream_detail", []):
            if s["name"] == stream:
                return int(s["config"]["num_replicas"])
    raise AssertionError(f"no stream {stream}")


def test_replicas_on_a_single_server_is_one_clear_line(env: Env) -> None:
    env.extra["USAGECTL_NATS_REPLICAS"] = "3"
    proc = env.run("sync", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "usagectl: the hub refused the stream USAGECTL: "
        "replicas > 1 not supported in non-clustered mode"
    )


def read_model(db: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(db)
    try:
        out = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3, 4").fetchall()
               for t in ("rollup", "session_usage", "session_span", "blocks")}  # fmt: skip
        out["ledger"] = conn.execute("SELECT key, event_id, counted FROM ledger ORDER BY key"
                                     ).fetchall()  # fmt: skip
        return out
    finally:
        conn.close()


def output_tokens(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT coalesce(sum(output), 0) FROM rollup").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def stop(proc: subprocess.Popen[bytes] | None) -> int | None:
    """Ctrl-C, as a user would; a process that does not stop within 30 s is killed."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@pytest.mark.slow
def test_stream_leader_killed_during_ingestion(tmp_path: Path) -> None:
    nodes = start_cluster(tmp_path / "cluster")
    try:
        _scenario(tmp_path, nodes)
    finally:
        for node in nodes:
            node.kill()


def _scenario(tmp_path: Path, nodes: list[Hub]) -> None:
    urls = ",".join(n.url for n in nodes)
    env = make_env(tmp_path / "m", urls)
    env.machine = "m1"
    env.extra["USAGECTL_NATS_REPLICAS"] = "3"
    truth = generate(env.claude, seed=17, sessions=800, days=10)
    live_out = [4001 + i for i in range(8)]
    expected_output = truth["totals"]["outputTokens"] + sum(live_out)
    (env.claude / "projects" / "-work-live").mkdir()
    (env.claude / "projects" / "-work-live" / "live.jsonl").touch()
    db = env.home / "usage.db"
    metrics: dict[str, object] = {"events": truth["totals"]["requests"]}
    started = time.monotonic()
    # watch first (it creates the R3 streams), then `up` backfills the corpus.
    watch = Watch([USAGECTL, "watch", "--json", "--refresh", "0.5"], env.vars(),
                  tmp_path / "watch.log")  # fmt: skip
    up: subprocess.Popen[bytes] | None = None
    try:
        watch.wait_for(lambda line: True, 120)
        up = env.popen("up")
        wait_until(lambda: output_tokens(db) > 0, 120, "the first events in the read model")
        victim = stream_leader(nodes, "USAGECTL")
        assert victim is not None
        before_kill, seq_at_kill = output_tokens(db), watch.lines[-1][1]["seq"]
        nodes[victim].kill()
        killed_at = time.monotonic()
        assert before_kill < truth["totals"]["outputTokens"], "killed after ingestion ended"
        metrics |= {"killed": f"n{victim + 1} (the stream's leader)",
                    "killed_after_s": round(killed_at - started, 2),
                    "share_at_kill": round(before_kill / expected_output, 3)}  # fmt: skip
        # With the node down, ingestion goes on and watch follows it.
        took = wait_until(lambda: output_tokens(db) > before_kill, 120, "ingestion to go on")
        metrics["read_model_stalled_s"] = round(took, 2)
        watch.wait_for(lambda line: line["seq"] > seq_at_kill, 120)
        metrics["watch_stalled_s"] = round(time.monotonic() - killed_at, 2)
        time.sleep(max(0.0, 5 - (time.monotonic() - killed_at)))  # down for 5 s at least
        down = nodes[victim].process
        assert down is not None and down.poll() is not None
        progress = output_tokens(db) - before_kill
        assert progress > 0
        nodes[victim].start()
        metrics["node_down_s"] = round(time.monotonic() - killed_at, 2)
        # Backfill done, live lines: watch shows each within moments.
        wait_until(lambda: "following transcripts" in env.log("up"), 120, "the backfill")
        metrics["backfill_s"] = round(time.monotonic() - started, 2)
        time.sleep(0.5)
        for i, out in enumerate(live_out):
            append_live(env.claude, i, out)
            time.sleep(0.1)
        appended = time.monotonic()
        wait_until(lambda: output_tokens(db) == expected_output, 120, "the read model")
        metrics["read_model_live_after_s"] = round(time.monotonic() - appended, 2)
        last = watch.wait_for(
            lambda line: any(m["name"] == "m1" and m["tokens"] >= sum(live_out) + 8 * 13
                             for m in line["machines"]), 30)  # fmt: skip
        metrics["watch_live_after_s"] = round(time.monotonic() - appended, 2)
        assert last["seq"] > seq_at_kill
        metrics["total_s"] = round(time.monotonic() - started, 2)
        gaps = [b - a for (a, _), (b, _) in zip(watch.lines, watch.lines[1:], strict=False)]
        metrics |= {"watch_lines": len(watch.lines), "watch_max_gap_s": round(max(gaps), 2)}
        stopped = stop(up)
        assert stopped == 0, env.log("up")[-2000:]
        daily = env.json("daily", "-z", "UTC")
        assert daily["totals"]["outputTokens"] == expected_output
        assert daily["totals"]["cacheReadTokens"] == truth["totals"]["cacheReadTokens"] + 8 * 10
        ingested = read_model(db)
        env.run("replay")
        assert read_model(db) == ingested  # equals a clean replay of the stream
        # A machine that does not configure replicas keeps the stream's three.
        env.extra.pop("USAGECTL_NATS_REPLICAS")
        env.run("sync")
        assert stream_replicas(nodes, "USAGECTL") == 3
    finally:
        watch.stop()
        stop(up)
    print("cluster node kill:", json.dumps(metrics))
    (tmp_path / "metrics.json").write_text(json.dumps(metrics, indent=2))
