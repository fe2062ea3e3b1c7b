"""Anyone's consumer: a tiny third-party package, built and installed here (into its own
directory, never into the test venv), is found through the ``usagectl.consumers`` entry
point, runs, survives SIGKILLs without reprocessing a batch, and replays from the start."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Env, NatsServer
from corpus import generate

README = Path(__file__).resolve().parent.parent / "README.md"
# The test slows the README's consumer down (0.2 s a batch when TOKENS_SLOW_S says so), so
# kills land in the middle of the stream.
SLOW = """

import dataclasses as _dc
import os as _os
import time as _time

_apply = consumer.apply


def _slow(db, batch):
    if _os.environ.get("TOKENS_FAIL"):
        raise ValueError("a bug in the plug-in")
    _apply(db, batch)
    _time.sleep(float(_os.environ.get("TOKENS_SLOW_S", "0")))


consumer = _dc.replace(consumer, apply=_slow)
"""


def readme_example() -> str:
    """The complete example under "Write your own consumer" in README.md, verbatim."""
    text = README.read_text()
    section = text[text.index("## Write your own consumer") :]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


PYPROJECT = """
[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]

[project]
name = "usagectl-tokens"
version = "0.1.0"

[project.entry-points."usagectl.consumers"]
tokens = "usagectl_tokens:consumer"
"""

# A dependency-free PEP 517 backend, so pip builds the wheel offline in any CI.
BACKEND = """
import base64, hashlib, zipfile
from pathlib import Path

NAME, VERSION = "usagectl_tokens", "0.1.0"
DIST = f"{NAME}-{VERSION}.dist-info"
FILES = {
    f"{NAME}.py": Path(f"{NAME}.py").read_bytes(),
    f"{DIST}/METADATA": b"Metadata-Version: 2.1\\nName: usagectl-tokens\\nVersion: 0.1.0\\n",
    f"{DIST}/WHEEL": b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\n"
    b"Tag: py3-none-any\\n",
    f"{DIST}/entry_points.txt": b"[usagectl.consumers]\\ntokens = usagectl_tokens:consumer\\n",
}


def _digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    record = "".join(f"{p},{_digest(d)},{len(d)}\\n" for p, d in FILES.items())
    record += f"{DIST}/RECORD,,\\n"
    with zipfile.ZipFile(Path(wheel_directory) / name, "w") as whl:
        for path, data in FILES.items():
            whl.writestr(path, data)
        whl.writestr(f"{DIST}/RECORD", record)
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package, built from source and pip-installed into a directory of its own."""
    root = tmp_path_factory.mktemp("plugin")
    src, site = root / "src", root / "site"
    src.mkdir()
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "backend.py").write_text(textwrap.dedent(BACKEND))
    (src / "usagectl_tokens.py").write_text(readme_example() + SLOW)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(site), str(src)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert (site / "usagectl_tokens-0.1.0.dist-info" / "entry_points.txt").exists()
    return site


@pytest.fixture
def user(env: Env, plugin: Path) -> Env:
    paths = [str(plugin), os.environ.get("PYTHONPATH", "")]
    env.extra["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def counts(env: Env) -> dict[tuple[str, str], tuple[int, int]]:
    conn = sqlite3.connect(env.home / "consumers" / "tokens.db")
    try:
        rows = conn.execute("SELECT machine, model, events, tokens FROM tokens").fetchall()
        return {(m, model): (n, t) for m, model, n, t in rows}
    finally:
        conn.close()


def tracked(env: Env) -> int:
    try:
        conn = sqlite3.connect(env.home / "consumers" / "tokens.db")
        row = conn.execute("SELECT stream_seq FROM tracking WHERE consumer = 'tokens'").fetchone()
        conn.close()
    except sqlite3.OperationalError:
        return 0
    return int(row[0]) if row else 0


def _until(predicate: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def stream_end(env: Env) -> int:
    return int(env.json("doctor")["bus"]["stream_last_seq"])


def test_a_third_party_consumer_runs_survives_kills_and_replays(user: Env) -> None:
    env = user
    generate(env.claude, seed=17, sessions=300, days=6)
    env.run("sync")  # the stream and the read model; the plug-in is not enabled yet
    listed = {c["name"]: c for c in json.loads(env.run("consumers", "list", "--json").stdout)}
    assert listed["tokens"]["package"] == "usagectl-tokens"
    assert listed["tokens"]["entry_point"] == "usagectl_tokens:consumer"
    assert not listed["tokens"]["enabled"] and listed["tokens"]["seq"] == 0
    assert "alerts" in listed  # found the same way
    produced = env.json("doctor")["producer"]["events"]
    end = stream_end(env)
    # Run it alone (slowed: 0.2 s a batch), kill -9 it mid-stream — in a batch's transaction
    # or between batches — three times, start it again each time.
    env.extra["TOKENS_SLOW_S"] = "0.2"
    rng, seqs = random.Random(3), [0]
    for _ in range(3):
        proc = env.popen("consumers", "run", "tokens")
        _until(lambda: tracked(env) > seqs[-1])
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        seqs.append(tracked(env))
    assert 0 < seqs[1] < seqs[2] < seqs[3] < end, (seqs, end)
    proc = env.popen("consumers", "run", "tokens")
    _until(lambda: tracked(env) >= end)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, env.log("consumers")
    env.extra.pop("TOKENS_SLOW_S")
    after_kills = counts(env)
    assert sum(n for n, _ in after_kills.values()) == produced  # not one event twice or lost
    listed = {c["name"]: c for c in json.loads(env.run("consumers", "list", "--json").stdout)}
    assert listed["tokens"]["seq"] == end and listed["tokens"]["lag"] == 0
    # A replay drops its table and reads the stream again from sequence 1.
    out = env.run("consumers", "replay", "tokens")
    assert f"up to stream seq {end:,}" in out.stderr
    assert counts(env) == after_kills
    # Enabled in the config, `sync` runs it until it has caught up.
    (env.home / "config.toml").write_text('[consumers]\nenabled = ["tokens"]\n')
    late = env.claude / "projects" / "-late" / "late.jsonl"
    late.parent.mkdir(parents=True)
    late.write_text(json.dumps({
        "type": "assistant", "timestamp": "2026-09-09T10:00:00.000Z", "sessionId": "late",
        "cwd": "/late", "requestId": "req_late",
        "message": {"id": "msg_late", "model": "claude-late", "usage": {"input_tokens": 5,
                                                                         "output_tokens": 7}},
    }) + "\n")  # fmt: skip
    env.run("sync")
    assert counts(env)[(env.machine, "claude-late")] == (1, 12)
    assert tracked(env) == stream_end(env)


def test_unknown_or_broken_consumers_are_one_clear_line(user: Env) -> None:
    env = user
    generate(env.claude, seed=1, sessions=2, days=1)
    env.home.mkdir(parents=True)
    (env.home / "config.toml").write_text('[consumers]\nenabled = ["tokens", "nope"]\n')
    proc = env.run("sync", check=False)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "'nope'" in proc.stderr and "installed: alerts, tokens" in proc.stderr
    proc = env.run("consumers", "run", "nope", check=False)
    assert proc.returncode == 1 and "no consumer named 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr
    # A plug-in that raises stops with one line naming the batch; the batch is not skipped.
    (env.home / "config.toml").write_text("")
    env.run("sync")
    env.extra["TOKENS_FAIL"] = "1"
    proc = env.run("consumers", "run", "tokens", check=False)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "the tokens consumer failed on stream seq 1-" in proc.stderr
    assert "ValueError: a bug in the plug-in" in proc.stderr
    assert tracked(env) == 0


def test_a_hub_that_lost_its_store_rebuilds_the_consumer_once(
    user: Env, nats_server: NatsServer
) -> None:
    """Sequences restart on a recreated stream and producers publish their history again: the
    consumer is rebuilt from the new stream, not fed the same events a second time."""
    env = user
    generate(env.claude, seed=8, sessions=20, days=3)
    env.home.mkdir(parents=True)
    (env.home / "config.toml").write_text('[consumers]\nenabled = ["tokens"]\n')
    env.run("sync")
    before = counts(env)
    assert sum(n for n, _ in before.values()) == env.json("doctor")["producer"]["events"]
    nats_server.kill()
    shutil.rmtree(nats_server.store)
    nats_server.start()
    env.run("sync")
    assert counts(env) == before
    assert "the stream was recreated" in (env.home / "consumers" / "tokens.log").read_text()
