"""`up --otlp`: Claude Code's OpenTelemetry export, received over OTLP/HTTP, becomes usage on
the bus. Driven by the OpenTelemetry SDK's own OTLP/HTTP exporters emitting records shaped
like Claude Code's `claude_code.api_request` events (and its metrics). A response seen both in
a transcript and as an event counts once, in either order, and the transcript copy wins; an
OTel-only machine shows in the reports, `machines`, `watch` and the dashboard; bad bodies are
one-line 400s, counted in `doctor`."""

from __future__ import annotations

import gzip
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import USAGECTL, Env, make_env, start_server
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from ports import free_port
from serving import is_listening, serve, wait_for
from usagectl.producers.otlp import BadPayload, decode_logs
from usagectl.projections.ledger import counted_entries, fold, group_id, to_entry

# The tests share one served world and build on each other's events: one worker, in order.
pytestmark = pytest.mark.xdist_group("otlp")

NOW = datetime.now(UTC).replace(microsecond=0)
MODEL = "claude-sonnet-4-5-20250929"


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def transcript_line(n: int, at: datetime) -> str:
    """A transcript's copy of response ``n``: 5m/1h cache split, message id, cwd."""
    return json.dumps({
        "type": "assistant", "timestamp": _iso(at), "sessionId": "sess-otel",
        "cwd": "/work/dedup", "requestId": f"req_otel_{n}",
        "message": {"id": f"msg_otel_{n}", "model": MODEL, "usage": {
            "input_tokens": 10 * n, "output_tokens": 200, "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 300,
            "cache_creation": {"ephemeral_5m_input_tokens": 100,
                               "ephemeral_1h_input_tokens": 200}}}}) + "\n"  # fmt: skip


def event_attributes(n: int, at: datetime, as_text: bool = True) -> dict[str, Any]:
    """Claude Code's `api_request` attributes for response ``n`` (numbers sent as strings, as
    Claude Code does, unless ``as_text`` is off)."""

    def num(v: float) -> Any:
        return str(v) if as_text else v

    return {
        "event.name": "api_request", "event.timestamp": _iso(at), "session.id": "sess-otel",
        "user.account_uuid": "acc-uuid", "organization.id": "org", "prompt.id": "p1",
        "model": MODEL, "input_tokens": num(10 * n), "output_tokens": num(200),
        "cache_read_tokens": num(1000), "cache_creation_tokens": num(300),
        "cost_usd": num(0.0123), "duration_ms": num(1500), "request_id": f"req_otel_{n}",
    }  # fmt: skip


def total_of(n: int) -> int:
    return 10 * n + 200 + 1000 + 300


def emit(url: str, events: list[dict[str, Any]], resource: dict[str, str] | None = None,
         token: str | None = None) -> None:  # fmt: skip
    """Through the SDK's OTLP/HTTP protobuf exporter, as Claude Code's exporter sends them."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    exporter = OTLPLogExporter(endpoint=f"{url}/v1/logs", headers=headers, timeout=30)
    provider = LoggerProvider(resource=Resource.create(resource or {"service.name": "claude-code"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("com.anthropic.claude_code.events")
    for attrs in events:
        logger.emit(body="claude_code.api_request", attributes=attrs,
                    event_name="claude_code.api_request")  # fmt: skip
    provider.shutdown()


def post(url: str, body: bytes, content_type: str, token: str | None = None,
         encoding: str | None = None) -> tuple[int, bytes]:  # fmt: skip
    headers = {"Content-Type": content_type} | ({"Content-Encoding": encoding} if encoding else {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


# ---- decoding and the dedup rule, no processes --------------------------------------------


def _request(events: list[dict[str, Any]], host: str | None = None) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    if host is not None:
        kv = resource_logs.resource.attributes.add()
        kv.key, kv.value.string_value = "host.name", host
    records = resource_logs.scope_logs.add().log_records
    for attrs in events:
        record = records.add()
        record.body.string_value = "claude_code." + attrs["event.name"]
        for key, value in attrs.items():
            kv = record.attributes.add()
            kv.key = key
            if isinstance(value, str):
                kv.value.string_value = value
            elif isinstance(value, float):
                kv.value.double_value = value
            else:
                kv.value.int_value = value
    return request


def test_protobuf_and_json_decode_alike_and_numbers_may_be_text() -> None:
    events = [event_attributes(1, NOW), event_attributes(2, NOW, as_text=False)]
    request = _request(events)
    binary = decode_logs(request.SerializeToString(), "application/x-protobuf", "m", "a")
    text = decode_logs(json_format.MessageToJson(request).encode(), "application/json", "m", "a")
    assert binary.usages == text.usages
    first, second = binary.usages
    assert (first.input, first.output, first.cache_write_5m, first.cache_read) == (10, 200, 300,
                                                                                  1000)  # fmt: skip
    assert second.input == 20 and second.reported_cost_usd == 0.0123
    assert first.request_id == "req_otel_1" and first.message_id is None
    assert first.ts == NOW and first.machine == "m" and first.account == "a"


def test_bad_records_are_set_aside_with_a_reason_and_bad_bodies_refused() -> None:
    bad = event_attributes(3, NOW) | {"output_tokens": "lots"}
    huge = event_attributes(4, NOW) | {"input_tokens": str(10**12)}
    other = {"event.name": "user_prompt", "prompt_length": "12"}
    decoded = decode_logs(_request([bad, huge, other]).SerializeToString(),
                          "application/x-protobuf", "m", "a")  # fmt: skip
    assert decoded.usages == [] and decoded.records == 3
    assert decoded.rejected == {"otlp api_request: output_tokens is not a number": 1,
                                "otlp api_request: input_tokens out of range": 1}  # fmt: skip
    with pytest.raises(BadPayload, match="not an OTLP protobuf request"):
        decode_logs(b"\xff\xff not protobuf", "application/x-protobuf", "m", "a")
    with pytest.raises(BadPayload, match="not an OTLP JSON request"):
        decode_logs(b"{not json", "application/json", "m", "a")


def _otel_usage(n: int) -> Any:
    request = _request([event_attributes(n, NOW)])
    return decode_logs(request.SerializeToString(), "application/x-protobuf", "m", "a").usages[0]


def _transcript_usage(n: int) -> Any:
    from usagectl.projections.transcript import file_context, normalise

    ctx = file_context("/t", "/t/projects/-work-dedup/sess-otel.jsonl", "m", "a")
    return normalise(ctx, 0, transcript_line(n, NOW).encode())


def test_the_transcript_copy_wins_in_either_order() -> None:
    otel, transcript = to_entry(_otel_usage(5)), to_entry(_transcript_usage(5))
    for order in ([otel, transcript], [transcript, otel]):
        groups: dict[str, dict[str, Any]] = {}
        for entry in order:
            gid = group_id(entry)
            touched = {g: groups[g] for g in (gid, "r:req_otel_5") if g in groups}
            changed, _ = fold(touched, [entry])
            groups.update(changed)
        assert [e.key for e in counted_entries(groups)] == [transcript.key], order


# ---- end to end: `up --otlp` on a real hub -------------------------------------------------


class World:
    def __init__(self, env: Env, url: str, process: subprocess.Popen[bytes]) -> None:
        self.env, self.url, self.process = env, url, process
        self.transcript = env.claude / "projects" / "-work-dedup" / "sess-otel.jsonl"

    def total(self, *args: str) -> int:
        """`daily --json`'s total (-1 until the processor has written a read model)."""
        proc = self.env.run("daily", *args, "--json", check=False)
        if proc.returncode != 0:
            assert "no read model" in proc.stderr, proc.stderr
            return -1
        return int(json.loads(proc.stdout)["totals"]["totalTokens"])

    def wait_total(self, expected: int, *args: str) -> None:
        wait_for(lambda: self.total(*args) == expected, 180,
                 f"daily {' '.join(args)} to reach {expected}")  # fmt: skip

    def append(self, n: int) -> None:
        with self.transcript.open("a") as f:
            f.write(transcript_line(n, NOW - timedelta(minutes=30 - n)))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("otlp")
    hub = start_server(root)
    env = make_env(root / "laptop", hub.url)
    port = free_port()
    env.extra["USAGECTL_OTLP_LISTEN"] = f"127.0.0.1:{port}"
    world = World(env, f"http://127.0.0.1:{port}", env.popen("up", "--otlp"))
    world.transcript.parent.mkdir(parents=True)
    world.transcript.write_text("")
    try:
        wait_for(lambda: is_listening(port) or world.process.poll() is not None, 180,
                 "the OTLP receiver")  # fmt: skip
        assert world.process.poll() is None, env.log("up")
        assert "receiving Claude Code's OpenTelemetry" in env.log("up")
        yield world
    finally:
        world.process.terminate()
        world.process.wait(timeout=30)
        hub.kill()


def at(n: int) -> datetime:
    return NOW - timedelta(minutes=30 - n)


def test_transcript_first_then_the_event_counts_once(world: World) -> None:
    world.append(1)
    world.wait_total(total_of(1))
    emit(world.url, [event_attributes(1, at(1))])
    emit(world.url, [event_attributes(2, at(2))])  # an event-only response: it counts
    world.wait_total(total_of(1) + total_of(2))
    # The transcript's copy is the one that counts: its project, its 5m/1h split.
    assert world.total("--project", "/work/dedup") == total_of(1)
    assert world.total("--project", "otel") == total_of(2)


def test_event_first_then_the_transcript_replaces_it(world: World) -> None:
    before = world.total()
    emit(world.url, [event_attributes(3, at(3))])
    world.wait_total(before + total_of(3))
    assert world.total("--project", "otel") == total_of(2) + total_of(3)
    world.append(3)
    wait_for(lambda: world.total("--project", "otel") == total_of(2), 180,
             "the transcript copy to replace the event's")  # fmt: skip
    assert world.total() == before + total_of(3)
    # The same batch sent again (an exporter's retry) is stored once.
    emit(world.url, [event_attributes(2, at(2))])
    emit(world.url, [event_attributes(6, at(6))])
    world.wait_total(before + total_of(3) + total_of(6))


def test_an_otel_only_machine_shows_everywhere(world: World) -> None:
    emit(world.url, [event_attributes(n, at(n)) for n in (7, 8)],
         resource={"service.name": "claude-code", "host.name": "ci-runner"})  # fmt: skip
    # Waited on by machine: an account-wide total read first could still miss the previous
    # test's last events, and then never be reached.
    world.wait_total(total_of(7) + total_of(8), "--machine", "ci-runner")
    env = world.env
    rows = env.json("daily", "--machine", "ci-runner")["daily"]
    assert [m["modelName"] for m in rows[-1]["modelBreakdowns"]] == [MODEL]
    assert "ci-runner" in {m["machine"] for m in env.json("machines")["machines"]}
    served = serve(env)
    try:
        dash = served.get("/api/dashboard")
        assert "ci-runner" in {m["machine"] for m in dash["machines"]}
        assert "ci-runner" in {m["machine"] for m in dash["blocks"]["machines"]}
    finally:
        served.stop()
    watch = subprocess.Popen([USAGECTL, "watch", "--json"], env=env.vars(),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert watch.stdout is not None
        frame = json.loads(watch.stdout.readline())
        shown = {m["name"]: m["tokens"] for m in frame["machines"]}
        assert shown.get("ci-runner") == total_of(7) + total_of(8), frame["machines"]
    finally:
        watch.kill()  # it may be blocked writing frames nobody reads any more
        watch.wait(timeout=30)
        if watch.stdout is not None:
            watch.stdout.close()


def test_metrics_are_accepted_and_counted_bad_bodies_are_400(world: World) -> None:
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{world.url}/v1/metrics", timeout=30),
        export_interval_millis=3_600_000,
    )
    provider = MeterProvider(metric_readers=[reader, InMemoryMetricReader()])
    meter = provider.get_meter("com.anthropic.claude_code")
    meter.create_counter("claude_code.token.usage").add(1234, {"type": "input", "model": MODEL})
    meter.create_counter("claude_code.cost.usage").add(0.5, {"model": MODEL})
    assert provider.force_flush(30_000)
    provider.shutdown()
    status, body = post(f"{world.url}/v1/logs", b"\x0a\xff garbage", "application/x-protobuf")
    assert status == 400 and body.count(b"\n") == 1 and b"not an OTLP protobuf" in body
    status, body = post(f"{world.url}/v1/logs", b"{}", "text/plain")
    assert status == 400 and b"Content-Type" in body
    stats = json.loads((world.env.home / "otlp-stats.json").read_text())
    assert stats["metric_points"] >= 2
    assert sum(stats["bad_payloads"].values()) >= 2
    doctor = world.env.run("doctor", check=False).stdout
    assert "OpenTelemetry" in doctor and "bad payloads" in doctor


def test_json_bodies_work_too(world: World) -> None:
    # Sent as a machine of their own and waited on by it: an account-wide total read first
    # could still miss the previous test's last events, and then never be reached.
    body = json_format.MessageToJson(_request([event_attributes(9, at(9))], "json-box")).encode()
    status, reply = post(f"{world.url}/v1/logs", body, "application/json")
    assert status == 200, reply
    assert json.loads(reply) == {}
    world.wait_total(total_of(9), "--machine", "json-box")
    packed = gzip.compress(_request([event_attributes(10, at(10))], "json-box").SerializeToString())
    status, reply = post(f"{world.url}/v1/logs", packed, "application/x-protobuf", encoding="gzip")
    assert status == 200, reply
    world.wait_total(total_of(9) + total_of(10), "--machine", "json-box")
    status, reply = post(f"{world.url}/v1/logs", b"not gzip", "application/x-protobuf",
                         encoding="gzip")  # fmt: skip
    assert status == 400 and b"not valid gzip" in reply


def test_otel_install_writes_the_env_block_with_a_backup(tmp_path: Path, env: Env) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"model": "opus", "env": {"FOO": "1"}}))
    env.extra["USAGECTL_OTLP_LISTEN"] = "127.0.0.1:4999"
    out = env.run("otel", "install", "--settings", str(settings)).stdout
    assert "http://127.0.0.1:4999" in out and "backup" in out
    data = json.loads(settings.read_text())
    assert data["model"] == "opus"
    assert data["env"] == {
        "FOO": "1", "CLAUDE_CODE_ENABLE_TELEMETRY": "1", "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4999",
    }  # fmt: skip
    assert len(list(tmp_path.glob("settings.json.bak-*"))) == 1
    assert "already set" in env.run("otel", "install", "--settings", str(settings)).stdout
    # Off loopback the receiver wants the token: it goes into the headers variable.
    env.run("otel", "install", "--settings", str(settings), "--endpoint", "http://10.1.2.3:4318")
    token = (env.home / "serve-token").read_text().strip()
    headers = json.loads(settings.read_text())["env"]["OTEL_EXPORTER_OTLP_HEADERS"]
    assert headers == f"Authorization=Bearer%20{token}"
    env.run("otel", "uninstall", "--settings", str(settings))
    assert json.loads(settings.read_text()) == {"model": "opus", "env": {"FOO": "1"}}
    bad = env.run("otel", "install", "--settings", str(settings), "--endpoint", "ftp://x",
                  check=False)  # fmt: skip
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_off_loopback_the_receiver_wants_the_token(tmp_path: Path, env: Env) -> None:
    port = free_port()
    env.extra["USAGECTL_OTLP_LISTEN"] = f"0.0.0.0:{port}"
    env.extra["USAGECTL_OTLP"] = "true"  # the config key, not the option
    process = env.popen("up")
    try:
        wait_for(lambda: is_listening(port) or process.poll() is not None, 180, "the receiver")
        assert process.poll() is None, env.log("up")
        url = f"http://127.0.0.1:{port}/v1/logs"
        body = _request([event_attributes(1, NOW)]).SerializeToString()
        status, reply = post(url, body, "application/x-protobuf")
        assert status == 401 and b"bearer token" in reply
        token = (env.home / "serve-token").read_text().strip()
        assert post(url, body, "application/x-protobuf", token="x" + token)[0] == 401
        assert post(url, body, "application/x-protobuf", token=token)[0] == 200
        emit(f"http://127.0.0.1:{port}", [event_attributes(2, NOW)], token=token)
        wait_for(lambda: env.run("daily", "--json", check=False).returncode == 0
                 and env.json("daily")["totals"]["totalTokens"] == total_of(1) + total_of(2),
                 180, "both events counted")  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_taken_port_is_one_line(env: Env) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        env.extra["USAGECTL_OTLP_LISTEN"] = f"127.0.0.1:{s.getsockname()[1]}"
        proc = env.run("up", "--otlp", check=False, timeout=60)
    assert proc.returncode != 0
    assert "cannot listen for OTLP" in proc.stderr and "Traceback" not in proc.stderr


async def test_read_model_is_the_same_whatever_the_order_and_batching(tmp_path: Path) -> None:
    """The store's dedup across batches: every order and split of transcript and event copies
    (and a retried event) gives the read model a single batch in transcript order gives."""
    import itertools
    import sqlite3

    from usagectl.processors.schema import CONSUMER
    from usagectl.processors.store import apply_batch, open_store

    events = [_otel_usage(n) for n in (11, 12, 13)] + [_transcript_usage(n) for n in (11, 12)]
    events.append(events[0])  # the exporter's retry

    async def build(name: str, batches: list[list[Any]]) -> tuple[Any, ...]:
        db = await open_store(tmp_path / name)
        for seq, batch in enumerate(batches, 1):
            await apply_batch(db, CONSUMER, batch, seq)
        await db.close()
        conn = sqlite3.connect(tmp_path / name)
        try:
            return tuple(conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3, 4").fetchall()
                         for t in ("usage_totals", "rollup", "session_usage"))  # fmt: skip
        finally:
            conn.close()

    expected = await build("one.db", [events])
    totals = expected[0]
    assert sum(row[5] + row[6] + row[7] + row[8] + row[9] for row in totals) == sum(
        total_of(n) for n in (11, 12, 13))  # fmt: skip
    orders = list(itertools.permutations(events[:5]))[::29]
    for i, order in enumerate(orders):
        one_by_one = [[e] for e in (*order, events[0])]
        assert await build(f"o{i}.db", one_by_one) == expected, order
        assert await build(f"h{i}.db", [list(order[:2]), list(order[2:])]) == expected, order
