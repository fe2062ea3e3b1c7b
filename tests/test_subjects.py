"""Names cannot change subjects: host names, project paths and session ids with dots, spaces,
wildcards, unicode or huge lengths each stay inside their one token (machines) or the payload
(projects, sessions), and a hub's per-machine permissions hold for every such name."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

from conftest import USAGECTL, Env, make_env
from hubs import hub_from, wait_for_guard, write_toml
from hypothesis import given, settings
from hypothesis import strategies as st
from usagectl.cli.hubconfig import Member, permissions, render_hub_conf, render_machine_toml
from usagectl.processors.bus import DURABLES, BusSettings, connect
from usagectl.processors.hubconn import default_inbox_prefix
from usagectl.projections.events import decode_token, encode_token, subject

SAFE_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
NASTY = ["host.with.dots", "*", ">", "name with spaces", "ünïcødé-笔记本", "a.*.>", "x" * 300,
         "tab\there", "", "_5F", "$SYS"]  # fmt: skip
names = st.text(min_size=0, max_size=120) | st.sampled_from(NASTY)


@settings(max_examples=400, deadline=None)
@given(names)
def test_any_name_is_exactly_one_safe_token(name: str) -> None:
    subj = subject("usagectl", "usage", name)
    parts = subj.split(".")
    assert parts[:3] == ["usagectl", "v1", "usage"] and len(parts) == 4
    token = parts[3]
    assert SAFE_TOKEN.fullmatch(token), token
    if len(token) < 64:
        assert decode_token(token) == name  # reversible below the length cap
    inbox = default_inbox_prefix(name)
    assert "." not in inbox and "*" not in inbox and ">" not in inbox
    for base in DURABLES:
        durable = BusSettings(url="", identity=name).durable(base)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", durable) and len(durable) <= 80


@settings(max_examples=400, deadline=None)
@given(names, names)
def test_different_names_never_share_a_token(a: str, b: str) -> None:
    if a != b:
        assert encode_token(a) != encode_token(b)


@given(names)
def test_a_machines_permission_matches_its_subjects_only(name: str) -> None:
    allowed = permissions(Member(name, "machine", ""))["publish"]["allow"][0]
    assert allowed == f"usagectl.v1.*.{encode_token(name)}"
    for kind in ("usage", "hook", "limit", "plan", "heartbeat"):
        assert _matches(allowed, subject("usagectl", kind, name))
    for other in ("laptop", "", "x" * 300, name + "."):
        if other != name:
            assert not _matches(allowed, subject("usagectl", "usage", other))


def _matches(pattern: str, subj: str) -> bool:
    """NATS subject matching ('*' one token, '>' the rest)."""
    p, s = pattern.split("."), subj.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


LINE = (
    '{{"type":"assistant","timestamp":"2026-09-0{day}T10:00:00.000Z","sessionId":{session},'
    '"cwd":{cwd},"message":{{"id":"msg_{n}","model":"claude-sonnet-4-5-20250929","usage":'
    '{{"input_tokens":{n},"output_tokens":100}}}},"requestId":"req_{n}"}}\n'
)
PROJECTS = ["/work/a.b/*/>", "/home/ü ser/项目 x", "/" + "deep/" * 80 + "end"]
SESSIONS = ["s.*.>", "session with spaces", "ünï-" + "z" * 200]


def write_transcripts(env: Env, seed: int) -> int:
    """Lines whose project paths and session ids are as hostile as names get."""
    total = 0
    for i, (cwd, session) in enumerate(zip(PROJECTS, SESSIONS, strict=True)):
        folder = env.claude / "projects" / f"p{i}"
        folder.mkdir(parents=True, exist_ok=True)
        n = seed * 10 + i + 1
        (folder / f"{session}.jsonl").write_text(
            LINE.format(day=i + 1, session=json.dumps(session), cwd=json.dumps(cwd), n=n)
        )
        total += n + 100
    return total


def test_hostile_names_end_to_end_on_a_hub_with_permissions(tmp_path: Path) -> None:
    machines = ["host.with.dots", "*", ">", "name with spaces", "ünïcødé-笔记本", "x" * 300]
    members = [Member(m, "machine", f"pw-{i}") for i, m in enumerate(machines)]
    hub = hub_from(render_hub_conf("admin-pw", members), tmp_path / "hub")
    processor = None
    try:
        admin = make_env(tmp_path / "admin", None)
        admin.machine = "hub"
        write_toml(admin.home, render_machine_toml("hub", hub.url, user="hub",
                                                   password="admin-pw", role="admin"))  # fmt: skip
        admin.run("sync")
        processor = admin.popen("processor")  # it vets the machines' JetStream requests
        wait_for_guard(hub)
        envs: list[Env] = []
        expected = 0
        for i, m in enumerate(members):
            env = make_env(tmp_path / f"m{i}", None)
            env.machine = m.name
            write_toml(env.home, render_machine_toml(m.name, hub.url, user=m.name,
                                                     password=m.secret))  # fmt: skip
            expected += write_transcripts(env, i)
            env.run("sync")
            envs.append(env)
        # Each machine could publish as itself, and only as itself: ">" and "*" are literal.
        wild = envs[machines.index(">")]
        wild.extra["USAGECTL_NATS_INBOX_PREFIX"] = default_inbox_prefix(">")
        for victim in ("host.with.dots", "*", "laptop"):
            wild.extra["USAGECTL_MACHINE"] = victim
            posing = wild.run("sync", check=False)
            assert posing.returncode == 1, posing.stderr
            assert "to publish as machine" in posing.stderr
        subjects = asyncio.run(_stream_subjects(hub.url))
        assert set(subjects) == {subject("usagectl", "usage", m) for m in machines}
        # The names come back exactly, from the payload.
        last = envs[-1]
        last.run("sync")
        daily = last.json("daily", "-z", "UTC", "--breakdown")
        assert daily["totals"]["totalTokens"] == expected
        sessions = {s["sessionId"] for s in last.json("session", "-z", "UTC")["sessions"]}
        assert set(SESSIONS) <= sessions
        for name in machines:
            report = last.json("daily", "-z", "UTC", "--machine", name)
            assert report["totals"]["totalTokens"] == sum(n + 100 for n in
                                                          _ns(machines.index(name)))  # fmt: skip
    finally:
        if processor is not None:
            processor.terminate()
            processor.wait(timeout=20)
        hub.kill()


def _ns(i: int) -> list[int]:
    return [i * 10 + k + 1 for k in range(len(PROJECTS))]


async def _stream_subjects(url: str) -> dict[str, int]:
    bus = BusSettings(url=url, user="hub", password="admin-pw")
    nc = await connect(bus)
    try:
        info = await nc.jetstream().stream_info(bus.stream, subjects_filter=">")
        return dict(info.state.subjects or {})
    finally:
        await nc.close()


def test_config_show_never_shows_a_secret(tmp_path: Path) -> None:
    home = tmp_path / "data"
    write_toml(home, render_machine_toml("m", "nats://m:url-secret@hub:4222", user="m",
                                         password="file-secret"))  # fmt: skip
    env = {"HOME": str(tmp_path), "USAGECTL_HOME": str(home), "PATH": "/usr/bin:/bin",
           "USAGECTL_NATS_TOKEN": "env-token-secret"}  # fmt: skip
    for args in (["config", "show"], ["config", "show", "--json"]):
        out = subprocess.run([USAGECTL, *args], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        for secret in ("url-secret", "file-secret", "env-token-secret"):
            assert secret not in out.stdout + out.stderr
