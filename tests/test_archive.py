"""History outlives the stream: `archive` writes day files, `--purge` lets the stream drop
them, and `replay --from-archive` rebuilds exactly what the stream alone would have."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from conftest import Env
from corpus import generate

REPORTS = ("daily", "monthly", "session", "blocks")


def texts(env: Env) -> dict[str, str]:
    return {r: env.run(r, "--json", "-z", "UTC").stdout for r in REPORTS}


def archived_lines(directory: Path) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for path in sorted(directory.glob("usagectl-*.jsonl.gz")):
        with gzip.open(path, "rt") as f:
            lines.extend(json.loads(line) for line in f)
    return lines


def stream_messages(env: Env) -> int:
    return int(env.json("doctor")["bus"]["messages"])


def test_archive_purge_then_replay_from_archive_gives_the_same_reports(env: Env) -> None:
    generate(env.claude, seed=31, sessions=15, days=5)
    env.run("sync")
    before, messages = texts(env), stream_messages(env)
    target = env.root / "archive"

    out = env.run("archive", "--older-than", "0", "--dir", str(target)).stderr
    assert f"archived {messages:,} messages" in out
    lines = archived_lines(target)
    assert [line["seq"] for line in lines] == list(range(1, messages + 1))
    assert all(line["subject"].startswith("usagectl.v1.") for line in lines)
    again = env.run("archive", "--older-than", "0", "--dir", str(target)).stderr
    assert "archived 0 messages" in again and len(archived_lines(target)) == messages

    env.run("archive", "--older-than", "0", "--dir", str(target), "--purge")
    assert stream_messages(env) == 0  # the stream no longer holds the history...

    # ...so a plain replay would lose it: refused, in one line, and the read model is kept.
    plain = env.run("replay", check=False)
    assert plain.returncode == 1 and plain.stderr.count("\n") == 1, plain.stderr
    assert f"{messages:,} older messages are no longer in the stream" in plain.stderr
    assert "--from-archive DIR, or --force" in plain.stderr
    assert texts(env) == before
    replayed = env.run("replay", "--from-archive", str(target)).stderr
    assert f"{messages:,} archived messages" in replayed
    assert texts(env) == before

    # New usage after the purge: the archive plus the stream's tail give everything.
    generate(env.claude / "more", seed=32, sessions=4, days=2, start="2026-10-01")
    env.extra["CLAUDE_CONFIG_DIR"] = f"{env.claude},{env.claude / 'more'}"
    env.run("sync")
    live = texts(env)
    assert live != before
    env.run("replay", "--from-archive", str(target))
    assert texts(env) == live
    env.run("archive", "--older-than", "0", "--dir", str(target))
    assert len(archived_lines(target)) == messages + stream_messages(env)


def test_truncated_archive_is_reported_not_fatal(env: Env) -> None:
    generate(env.claude, seed=33, sessions=4, days=2)
    env.run("sync")
    target = env.root / "archive"
    env.run("archive", "--older-than", "0", "--dir", str(target))
    (day,) = target.glob("usagectl-*.jsonl.gz")
    day.write_bytes(day.read_bytes()[: day.stat().st_size // 2])
    proc = env.run("replay", "--from-archive", str(target))  # the stream has it all
    assert "truncated files: " + day.name in proc.stderr


def test_replay_never_loses_history_without_force(env: Env) -> None:
    truth = generate(env.claude, seed=35, sessions=6, days=2)
    env.run("sync")
    before = texts(env)
    target = env.root / "archive"
    env.run("archive", "--older-than", "0", "--dir", str(target), "--purge")
    (day,) = target.glob("usagectl-*.jsonl.gz")
    whole = day.read_bytes()
    day.write_bytes(whole[: len(whole) * 2 // 3])

    # On the old main: exit 0 and an EMPTY read model (the readable part dropped too).
    proc = env.run("replay", "--from-archive", str(target), check=False)
    assert proc.returncode == 1, proc.stderr
    assert "replay refused" in proc.stderr and f"truncated archive files: {day.name}" in proc.stderr
    assert "--force" in proc.stderr and "Traceback" not in proc.stderr
    assert texts(env) == before
    assert not list(env.home.glob("usage.db.replay-*"))  # the refused rebuild is gone

    forced = env.run("replay", "--from-archive", str(target), "--force").stderr
    assert "warning: --force: the replaced read model had" in forced
    kept = env.json("daily", "-z", "UTC")["totals"]["totalTokens"]
    assert 0 < kept < truth["totals"]["totalTokens"]  # up to the last whole line, not nothing

    day.write_bytes(whole)  # the whole archive back: nothing lost, swapped in without --force
    env.run("replay", "--from-archive", str(target))
    assert texts(env) == before


def test_archive_errors_are_one_line(env: Env) -> None:
    for args in (("replay", "--from-archive", str(env.root / "none")),
                 ("archive", "--older-than", "-1")):  # fmt: skip
        proc = env.run(*args, check=False)
        assert proc.returncode == 1, args
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_a_new_machine_on_a_purged_stream_syncs_and_rebuilds_from_the_archive(
    env: Env, tmp_path: Path
) -> None:
    from conftest import make_env

    generate(env.claude, seed=34, sessions=4, days=2)
    env.run("sync")
    before = texts(env)
    target = env.root / "archive"
    env.run("archive", "--older-than", "0", "--dir", str(target), "--purge")
    assert stream_messages(env) == 0
    # Its sequences are gone from the stream: `sync` must not wait for them.
    newcomer = make_env(tmp_path / "newcomer", env.nats_url)
    newcomer.run("sync", timeout=60)
    newcomer.run("replay", "--from-archive", str(target))
    assert texts(newcomer) == before
