"""One file that cannot be read costs that file only: it is skipped, named in doctor and
machines with why, tried again later; every other file is counted. Symlinked project folders
are followed (a link cycle ends), and a UTF-8 BOM does not cost a line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import USAGECTL, Env
from corpus import generate
from resilience import read_model_tokens, wait_for

# Root reads any file whatever its mode: drop the two capabilities that let it, so a mode-000
# file is as unreadable to the test as to anyone else.
NO_OVERRIDE = (
    ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
     "--inh-caps=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
)  # fmt: skip


@pytest.fixture
def lockable() -> None:
    if NO_OVERRIDE and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a mode-000 file stays readable")


def _run(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NO_OVERRIDE, USAGECTL, *args], env=env.vars(), capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def _line(mid: str, tokens: int) -> str:
    message = {"id": mid, "model": "claude-sonnet-4-5",
               "usage": {"input_tokens": tokens, "output_tokens": 1}}  # fmt: skip
    line = {"type": "assistant", "timestamp": "2026-09-03T12:00:00.000Z", "sessionId": "s",
            "requestId": "r-" + mid, "message": message}  # fmt: skip
    return json.dumps(line) + "\n"


def _locked_file(env: Env) -> Path:
    folder = env.claude / "projects" / "-locked"
    folder.mkdir()
    locked = folder / "s.jsonl"
    locked.write_text(_line("locked-1", 1000) + _line("locked-2", 20000))
    locked.chmod(0)
    return locked


def _tokens(env: Env) -> int:
    return int(env.json("daily", "-z", "UTC")["totals"]["totalTokens"])


@pytest.mark.usefixtures("lockable")
def test_an_unreadable_file_is_skipped_reported_and_retried_by_sync(env: Env) -> None:
    truth = generate(env.claude, seed=41, sessions=6, days=2)
    locked = _locked_file(env)
    synced = _run(env, "sync")  # on the old main: exit 1, nothing counted at all
    assert synced.returncode == 0, synced.stderr
    assert "could not be read" in synced.stderr and "Traceback" not in synced.stderr
    assert _tokens(env) == truth["totals"]["totalTokens"]
    doctor = env.json("doctor")
    assert doctor["producer"]["unreadable"] == {str(locked): "permission denied"}
    assert any("could not be read" in w for w in doctor["warnings"])  # counting goes on
    row = next(m for m in env.json("machines")["machines"] if m["machine"] == env.machine)
    assert row["unreadableFiles"] == {str(locked): "permission denied"}

    locked.chmod(0o644)
    assert _run(env, "sync").returncode == 0
    assert _tokens(env) == truth["totals"]["totalTokens"] + 21002
    assert env.json("doctor")["producer"]["unreadable"] == {}


@pytest.mark.usefixtures("lockable")
def test_up_keeps_counting_past_an_unreadable_file(env: Env) -> None:
    truth = generate(env.claude, seed=42, sessions=6, days=2)
    locked = _locked_file(env)
    db = env.home / "usage.db"
    with (env.root / "up.log").open("ab") as log:
        proc = subprocess.Popen([*NO_OVERRIDE, USAGECTL, "up"], env=env.vars(),
                                stdout=subprocess.DEVNULL, stderr=log)  # fmt: skip
    try:
        want = truth["totals"]["totalTokens"]
        wait_for(lambda: read_model_tokens(db) == want, 60, "the readable files")
        assert proc.poll() is None, env.log("up")  # on the old main: gone after a second
        extra = env.claude / "projects" / "-p-later"
        extra.mkdir()
        (extra / "t.jsonl").write_text(_line("later", 300))
        wait_for(lambda: read_model_tokens(db) == want + 301, 60, "a new file, live")
        locked.chmod(0o644)
        (locked.parent / "s.jsonl").touch()  # a write is what tells the watcher to look again
        wait_for(lambda: read_model_tokens(db) == want + 301 + 21002, 60, "the file, readable")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0, env.log("up")


def test_symlinked_project_folders_are_followed_once(env: Env, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "-p-linked"
    elsewhere.mkdir(parents=True)
    (elsewhere / "s.jsonl").write_text(_line("linked", 500))
    projects = env.claude / "projects"
    (projects / "-p-linked").symlink_to(elsewhere)
    real = projects / "-p-real"
    real.mkdir()
    (real / "s.jsonl").write_text(_line("real", 60))
    (real / "loop").symlink_to(projects)  # a cycle: must end
    (projects / "-p-again").symlink_to(real)  # a second way to the same folder: once
    env.run("sync")  # on the old main: the linked folder is not counted
    assert _tokens(env) == 501 + 61
    assert env.json("doctor")["producer"]["files"] == 2


def test_a_bom_before_the_first_line_is_ignored(env: Env) -> None:
    folder = env.claude / "projects" / "-p"
    folder.mkdir()
    (folder / "s.jsonl").write_bytes(b"\xef\xbb\xbf" + (_line("a", 10) + _line("b", 20)).encode())
    env.run("sync")  # on the old main: the first line rejected as not JSON
    assert _tokens(env) == 11 + 21
    reasons = env.json("doctor")["producer"]["lines_by_reason"]
    assert not any(k.startswith("rejected:") for k in reasons), reasons
