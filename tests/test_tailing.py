"""Discovery as ccusage does it, and incremental reading by byte offset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from usagectl.producers.checkpoints import FileState
from usagectl.producers.discovery import NoDataRoots, claude_roots, session_files
from usagectl.producers.tailer import plan_read, read_chunks


def lines(path: Path, start: int, chunk_bytes: int = 1 << 20) -> list[tuple[int, bytes]]:
    return [line for chunk in read_chunks(str(path), start, chunk_bytes) for line in chunk.lines]


def test_config_dir_list_keeps_roots_with_projects(tmp_path: Path) -> None:
    a, b, empty = tmp_path / "a", tmp_path / "b", tmp_path / "empty"
    for d in (a / "projects", b / "projects", empty):
        d.mkdir(parents=True)
    home = tmp_path / "home"
    found = claude_roots(f" {a} ,,{b}/projects, {empty},{a}", home, None)
    assert found == [a, b]
    with pytest.raises(NoDataRoots):
        claude_roots(str(empty), home, None)


def test_defaults_are_xdg_config_then_dot_claude(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".claude" / "projects").mkdir(parents=True)
    (home / ".config" / "claude" / "projects").mkdir(parents=True)
    assert claude_roots(None, home, None) == [home / ".config" / "claude", home / ".claude"]


def test_every_jsonl_below_projects_but_no_symlinks(tmp_path: Path) -> None:
    proj = tmp_path / "projects" / "-p"
    (proj / "s1" / "subagents").mkdir(parents=True)
    for rel in ("s0.jsonl", "s1/subagents/agent-a.jsonl", "notes.txt"):
        (proj / rel).write_text("{}\n")
    os.symlink(proj / "s0.jsonl", proj / "link.jsonl")
    os.symlink(proj / "s1", proj / "linked-dir")
    found = [p.relative_to(proj).as_posix() for p in session_files(tmp_path)]
    assert found == ["s0.jsonl", "s1/subagents/agent-a.jsonl"]


def test_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    f.write_bytes(b'{"a":1}\n{"b":')
    got = lines(f, 0)
    assert got == [(0, b'{"a":1}')]
    f.write_bytes(b'{"a":1}\n{"b":2}\n')
    assert lines(f, 8) == [(8, b'{"b":2}')]


def test_lines_split_across_small_chunks_keep_their_offsets(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    body = b"".join(b'{"n":%d}\n' % i for i in range(200))
    f.write_bytes(body)
    got = lines(f, 0, chunk_bytes=7)
    assert len(got) == 200
    assert all(body[off : off + len(line)] == line for off, line in got)


def test_shrunk_or_replaced_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    f.write_bytes(b"x" * 100 + b"\n")
    first = plan_read(str(f), None)
    assert first is not None and first[0].offset == 0
    st = os.stat(f)
    known = FileState(str(f), inode=st.st_ino, offset=101, size=101)
    assert plan_read(str(f), known) is None  # nothing new
    f.write_bytes(b"y\n")  # truncated and rewritten in place
    plan = plan_read(str(f), known)
    assert plan is not None and plan[1] and plan[0].offset == 0
    replacement = tmp_path / "new.jsonl"
    replacement.write_bytes(b"z" * 200 + b"\n")
    os.replace(replacement, f)  # same name, new inode, larger
    plan = plan_read(str(f), known)
    assert plan is not None and plan[1] and plan[0].offset == 0


def test_vanished_file_is_not_an_error(tmp_path: Path) -> None:
    gone = tmp_path / "gone.jsonl"
    assert plan_read(str(gone), None) is None
    assert lines(gone, 0) == []
