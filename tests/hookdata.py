"""A recorded Claude Code session as its hooks see it: one payload per event kind (and one kind
Claude Code has not invented yet), with contents that must never reach the bus."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SESSION = "0d6c8f7e-hooks-session"
CWD = "/work/hooked"
SECRET = "SECRET-CONTENT-7f3a"  # in tool inputs, outputs, prompts and messages
PROMPT = f"please fix the failing tests {SECRET}"


def payload(name: str, session: str = SESSION, **fields: Any) -> dict[str, Any]:
    return {"session_id": session, "transcript_path": f"/home/u/.claude/projects/-work-hooked/"
            f"{session}.jsonl", "cwd": CWD, "permission_mode": "default",
            "hook_event_name": name, **fields}  # fmt: skip


def tool(name: str, tool_name: str, tool_use_id: str, **fields: Any) -> dict[str, Any]:
    return payload(name, tool_name=tool_name, tool_use_id=tool_use_id,
                   tool_input={"command": f"cat {SECRET}", "file_path": "/work/x.py",
                               "content": SECRET * 20}, **fields)  # fmt: skip


def recording(session: str = SESSION) -> list[dict[str, Any]]:
    """Every event kind once or more, in the order Claude Code would send them."""
    response = {"stdout": SECRET * 50, "stderr": "", "interrupted": False}
    events = [
        payload("SessionStart", source="startup", model="claude-opus-4-1"),
        payload("UserPromptSubmit", prompt=PROMPT, prompt_id="p-1"),
        tool("PreToolUse", "Bash", "toolu_bash1"),
        tool("PermissionRequest", "Bash", "toolu_bash1",
             permission_suggestions=[{"type": "addRules", "rules": [SECRET]}]),
        tool("PostToolUse", "Bash", "toolu_bash1", tool_response=response, duration_ms=1200),
        tool("PreToolUse", "Read", "toolu_read1"),
        tool("PostToolUseFailure", "Read", "toolu_read1",
             error=f"File does not exist: {SECRET}", is_interrupt=False, duration_ms=7),
        tool("PreToolUse", "Edit", "toolu_edit1"),
        tool("PostToolUse", "Edit", "toolu_edit1", tool_response={"filePath": "/work/x.py",
             "oldString": SECRET, "success": True}),  # no duration_ms: Post.ts - Pre.ts
        payload("SubagentStart", agent_id="agent-1", agent_type="Explore"),
        {**tool("PreToolUse", "Grep", "toolu_grep1"), "agent_id": "agent-1",
         "agent_type": "Explore"},
        {**tool("PostToolUse", "Grep", "toolu_grep1", tool_response=SECRET, duration_ms=30),
         "agent_id": "agent-1", "agent_type": "Explore"},
        payload("SubagentStop", agent_id="agent-1", agent_type="Explore", stop_hook_active=False,
                agent_transcript_path="/x/agent-1.jsonl", last_assistant_message=SECRET),
        payload("Notification", message=f"Claude needs your permission {SECRET}",
                notification_type="permission_prompt"),
        payload("PreCompact", trigger="auto", custom_instructions=SECRET),
        payload("UserPromptSubmit", prompt="and now the docs", prompt_id="p-2"),
        payload("Stop", stop_hook_active=False, last_assistant_message=SECRET),
        payload("TeammatesAssembled", team_name="blue", roster=[SECRET] * 3, size=3),
        payload("SessionEnd", reason="prompt_input_exit"),
    ]  # fmt: skip
    if session != SESSION:
        for e in events:
            e["session_id"] = session
            for key in ("tool_use_id", "agent_id", "prompt_id"):
                if key in e:
                    e[key] = f"{e[key]}-{session}"
    return events


def send(usagectl: str, env: dict[str, str], data: Any, pause_s: float = 0.0) -> None:
    """One hook call as Claude Code makes it: exit 0, nothing on stdout, nothing on stderr."""
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    proc = subprocess.run([usagectl, "hook"], input=raw, env=env, capture_output=True,
                          timeout=30)  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b""), proc
    if pause_s:
        time.sleep(pause_s)


def transcript(claude: Path, session: str = SESSION) -> None:
    """One response in the session, so `session` lists it beside its hook counts."""
    folder = claude / "projects" / "-work-hooked"
    folder.mkdir(parents=True, exist_ok=True)
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    line = {"type": "assistant", "timestamp": ts, "sessionId": session, "cwd": CWD,
            "message": {"id": f"msg_{session}", "model": "claude-sonnet-4-5-20250929",
                        "usage": {"input_tokens": 10, "output_tokens": 20}},
            "requestId": f"req_{session}"}  # fmt: skip
    (folder / f"{session}.jsonl").write_text(json.dumps(line) + "\n")


def spooled(home: Path) -> list[dict[str, Any]]:
    path = home / "spool" / "hooks.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
