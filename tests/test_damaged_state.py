"""Damaged state files: the producer's checkpoints are moved aside and everything is read
again (dedup keeps the totals exact); a damaged read model is named with its fix in one line;
doctor never crashes on either."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Env
from corpus import generate


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "header":  # not a database at all any more
        data[:100] = b"\xde\xad" * 50
    else:  # pages after the first overwritten: "database disk image is malformed"
        page = int.from_bytes(data[16:18], "big") or 65536
        data[page : len(data)] = b"\x5a" * (len(data) - page)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["header", "pages"])
def test_damaged_checkpoints_are_moved_aside_and_everything_read_again(env: Env, how: str) -> None:
    truth = generate(env.claude, seed=51, sessions=8, days=2)
    env.run("sync")
    want = truth["totals"]["totalTokens"]
    _damage(env.home / "producer.db", how)

    doctor = env.run("doctor", "--json", check=False)  # on the old main: a traceback or a
    assert "Traceback" not in doctor.stderr  # bare "database disk image is malformed"
    problems = json.loads(doctor.stdout)["problems"]
    assert any("producer.db is damaged" in p and "moves it aside" in p for p in problems)

    synced = env.run("sync")
    assert "moved aside" in synced.stderr
    assert list(env.home.glob("producer.db.damaged-*"))
    assert env.json("daily", "-z", "UTC")["totals"]["totalTokens"] == want
    assert "error" not in env.json("doctor")["producer"]


@pytest.mark.parametrize("how", ["header", "pages"])
def test_a_damaged_read_model_is_named_with_its_fix(env: Env, how: str) -> None:
    truth = generate(env.claude, seed=52, sessions=8, days=2)
    env.run("sync")
    db = env.home / "usage.db"
    _damage(db, how)

    daily = env.run("daily", "--json", check=False)
    assert daily.returncode == 1 and daily.stderr.count("\n") == 1, daily.stderr
    assert str(db) in daily.stderr and "run `usagectl replay`" in daily.stderr
    doctor = env.run("doctor", "--json", check=False)
    assert "Traceback" not in doctor.stderr, doctor.stderr
    report = json.loads(doctor.stdout)
    assert any("run `usagectl replay`" in p for p in report["problems"]), report["problems"]
    assert "run `usagectl replay`" in env.run("doctor", check=False).stdout
    synced = env.run("sync", check=False)
    assert synced.returncode == 1 and "run `usagectl replay`" in synced.stderr, synced.stderr

    replayed = env.run("replay")
    assert "could not be read" in replayed.stderr
    assert env.json("daily", "-z", "UTC")["totals"]["totalTokens"] == truth["totals"]["totalTokens"]
