"""Project attribution when the folder is not the encoded cwd (CLAUDE_CODE_PROJECT_DIR_NAME).

The line's cwd decides; a line without one takes its file's; the folder name only when no line
of the file has one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import Env


def line(n: int, out: int, cwd: str | None) -> str:
    d: dict[str, Any] = {"type": "assistant", "timestamp": f"2026-10-0{n}T10:00:00.000Z",
                         "sessionId": f"s{n}", "requestId": f"req_{n}"}  # fmt: skip
    if cwd is not None:
        d["cwd"] = cwd
    d["message"] = {"id": f"msg_{n}", "model": "claude-sonnet-5-5",
                    "usage": {"input_tokens": 1, "output_tokens": out}}  # fmt: skip
    return json.dumps(d) + "\n"


def write(path: Path, *lines: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))


def output(env: Env, *args: str) -> int:
    return int(env.json("daily", "-z", "UTC", *args)["totals"]["outputTokens"])


def test_cwd_decides_and_the_folder_only_when_no_line_has_one(env: Env) -> None:
    projects = env.claude / "projects"
    # A host-chosen folder: the first line has no cwd, the second names the real one.
    write(projects / "team-box" / "a.jsonl", line(1, 10, None), line(2, 20, "/srv/work/api"))
    # A folder whose lines never say where they ran.
    write(projects / "no-cwd-here" / "b.jsonl", line(3, 300, None))
    env.run("sync")
    assert output(env) == 330
    for name in ("/srv/work/api", "api", "-srv-work-api", "team-box"):
        assert output(env, "--project", name) == 30, name
    assert output(env, "--project", "no-cwd-here") == 300
    sessions = {s["sessionId"]: s["projectPath"] for s in env.json("session")["sessions"]}
    assert sessions == {"a": "team-box", "b": "no-cwd-here"}  # the folder, as ccusage shows it
