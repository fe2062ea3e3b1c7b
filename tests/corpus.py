"""Deterministic, realistic Claude Code transcript corpus with its own ground truth.

    python tests/corpus.py OUT --seed 7 --sessions 40 [--target-bytes N] [--start 2026-09-01]
                               [--days 10] [--quirks]

Writes ``OUT/projects/<encoded-cwd>/<session>.jsonl`` (plus ``<session>/subagents/agent-*.jsonl``)
and ``OUT/ground_truth.json``: the totals DESIGN.md §3 expects, taken from the generator's own
record of the responses it wrote (never by re-reading the files). Same arguments, same bytes.

What is in it: prompts, tool results (Task results carry a ``toolUseResult.usage`` that must not
be billed), responses split into content-block lines (identical usage) or streamed copies
(same message.id/requestId, growing output_tokens, the last copy largest), subagents with
``agent_progress`` copies in the parent, compaction agents, resumed sessions that start with copies
of another session's lines, ``/btw`` sidechain replays (same message.id, new requestId: not
billed), ``<synthetic>`` error lines, bookkeeping lines, old ``costUSD`` lines, requestId-less
gateway lines and malformed lines. ``--quirks`` adds lines ccusage 20 rejects although they are
valid (``"id":null`` inside a tool input, a microsecond timestamp, version ``"2.1"``) and an orphan
``agent_progress`` line whose nested usage exists nowhere else (ccusage's daily loader bills it).
``--fall`` writes what Claude Code wrote in fall 2026 instead: the models of September and October
2026 (across Sonnet 5.5's 2026-10-07 price cut), ``inference_geo`` "us", fast Opus 5.5, advisor
and fallback iterations, host-chosen project folders (``CLAUDE_CODE_PROJECT_DIR_NAME``) and files
whose complete last line has no newline; its ground truth adds each day's and model's cost, from
the generator's own copy of the fall-2026 price list.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
import time
from collections import Counter, deque
from datetime import UTC, datetime
from functools import cache
from itertools import pairwise
from pathlib import Path
from random import Random
from typing import Any, NamedTuple

import msgspec

ENCODER = msgspec.json.Encoder()
B62 = string.ascii_letters + string.digits
DAY_MS, HOUR_MS, MIN_MS = 86_400_000, 3_600_000, 60_000
MAX_INPUT = 199_000  # input + cache writes + cache reads of one request stays below 200k
SESSION_BYTES = 40_000  # mean session size when no --target-bytes is given
SIGMA = 1.55  # lognormal spread of session sizes (ccusage-behaviour.md §8 quantiles)

MODELS = (  # main-session model mix
    ("claude-sonnet-4-5-20250929", 32),
    ("claude-opus-4-6", 24),
    ("claude-haiku-4-5-20251001", 10),
    ("claude-opus-4-1-20250805", 10),
    ("claude-sonnet-4-20250514", 14),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 7),
)
SUB_MODELS = ("claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929")
FALL_MODELS = (
    ("claude-opus-5-5", 20), ("claude-opus-5-5[1m]", 8), ("claude-sonnet-5-5", 26),
    ("claude-haiku-5-5", 12), ("claude-fable-5-1", 8), ("claude-mythos-5-1", 6),
    ("claude-sonnet-4-5-20250929", 10), ("claude-opus-4-6", 10),
)  # fmt: skip
FALL_SUB_MODELS = ("claude-haiku-5-5", "claude-sonnet-5-5")
FAST_MODELS = ("claude-opus-4-6", "claude-opus-5-5", "claude-opus-5-5[1m]")
ADVISORS = ("claude-opus-5-5", "claude-fable-5-1")
UNTERMINATED = 0.15  # share of main transcripts whose last line has no newline (--fall)
TOOLS: tuple[tuple[str, int], ...]  # grown below, so not the first line's fixed length
TOOLS = (("Read", 30), ("Bash", 25), ("Edit", 14), ("Grep", 10), ("Glob", 5), ("TodoWrite", 5))
TOOLS += (("WebFetch", 3), ("Task", 8))
MALFORMED: tuple[str, ...]
MALFORMED = ("not_json", "truncated", "missing_input_tokens", "negative_tokens")
MALFORMED += ("float_tokens", "string_tokens", "bad_timestamp")
QUIRKS = ("null_id_in_input", "microsecond_timestamp", "non_semver_version", "orphan_progress")
TOKEN_KEYS: tuple[str, ...]
TOKEN_KEYS = ("inputTokens", "outputTokens", "cacheCreation5mTokens", "cacheCreation1hTokens")
TOKEN_KEYS += ("cacheReadTokens", "webSearchRequests", "requests")


class Version(NamedTuple):
    name: str
    split: bool  # usage.cache_creation {5m, 1h} present
    modern: bool  # slug, inference_geo, null stop_reason on every line (2.1.38/39)
    rich: bool  # speed, server_tool_use, iterations, entrypoint, final stop_reason (2.1.2xx)
    cost: bool  # costUSD on assistant lines (before 1.0.9)
    geo: bool = False  # inference_geo may be "us" (2.1.239+)


VERSIONS = (
    (Version("1.0.8", False, False, False, True), 3),
    (Version("2.0.61", True, False, False, False), 12),
    (Version("2.1.38", True, True, False, False), 25),
    (Version("2.1.39", True, True, False, False), 30),
    (Version("2.1.233", True, True, True, False), 30),
)
FALL_VERSIONS = (
    (Version("2.1.39", True, True, False, False), 10),
    (Version("2.1.233", True, True, True, False), 30),
    (Version("2.1.240", True, True, True, False, True), 60),
)

# The fall-2026 price list as the pricing page states it, USD per million tokens: (from, (input,
# output, 5m write, 1h write, cache read)); band = (prompt tokens, rates for the whole request).
FALL_PRICES: dict[str, tuple[tuple[str, tuple[float, ...]], ...]] = {
    "claude-opus-5-5": (("", (4, 20, 5, 8, 0.20)),),
    "claude-sonnet-5-5": (("", (2, 10, 2.5, 4, 0.20)), ("2026-10-07", (2, 10, 2.5, 4, 0.10))),
    "claude-haiku-5-5": (("", (0.10, 0.50, 0.125, 0.20, 0.01)),),
    "claude-fable-5-1": (("", (10, 50, 12.5, 20, 0.25)),),
    "claude-mythos-5-1": (("", (10, 50, 12.5, 20, 0.25)),),
    "claude-sonnet-4-5-20250929": (("", (3, 15, 3.75, 6, 0.30)),),
    "claude-opus-4-6": (("", (5, 25, 6.25, 10, 0.50)),),
}
FALL_PRICES["claude-opus-5-5[1m]"] = FALL_PRICES["claude-opus-5-5"]
FALL_BANDS = {"claude-haiku-5-5": (100_000, (0.50, 2.50, 0.625, 1.00, 0.05))}
FALL_FAST = {"claude-opus-5-5": 2.0, "claude-opus-5-5[1m]": 2.0, "claude-opus-4-6": 6.0}


def fall_cost(ts: str, model: str, u: Usage, fast: bool, geo: str) -> float:
    """What Anthropic bills for one response, by the fall-2026 price list."""
    rates = [r for since, r in FALL_PRICES[model] if since <= ts[:10]][-1]
    band = FALL_BANDS.get(model)
    if band and u.inp + u.cc5 + u.cc1h + u.read > band[0]:
        rates = band[1]
    tokens = (u.inp, u.out, u.cc5, u.cc1h, u.read)
    usd = sum(n * rate for n, rate in zip(tokens, rates, strict=True)) / 1e6
    usd *= FALL_FAST.get(model, 1.0) if fast else 1.0
    return usd * (1.1 if geo == "us" else 1.0)


class Usage(NamedTuple):
    inp: int
    out: int
    cc5: int
    cc1h: int
    read: int
    web: int


def usage_of(line: dict[str, Any]) -> Usage:
    u = line["message"]["usage"]
    cc1h = u.get("cache_creation", {}).get("ephemeral_1h_input_tokens", 0)
    cc5 = u["cache_creation_input_tokens"] - cc1h
    web = u.get("server_tool_use", {}).get("web_search_requests", 0)
    read = u["cache_read_input_tokens"]
    return Usage(u["input_tokens"], u["output_tokens"], cc5, cc1h, read, web)


# Input and output $/MTok by model family, for the costUSD old Claude Code computed itself.
LEGACY_PRICES = (("opus-4-1", 15.0, 75.0), ("opus-4-6", 5.0, 25.0), ("haiku", 1.0, 5.0))


def legacy_cost(model: str, u: dict[str, Any]) -> float:
    """A costUSD close to what Claude Code < 1.0.9 wrote: its own estimate of the request."""
    p_in, p_out = next(((i, o) for k, i, o in LEGACY_PRICES if k in model), (3.0, 15.0))
    writes = u.get("cache_creation_input_tokens", 0)
    usd: float = u["input_tokens"] * p_in + u["output_tokens"] * p_out
    usd += writes * p_in * 1.25 + u.get("cache_read_input_tokens", 0) * p_in * 0.1
    return round(usd / 1e6, 6)


def encode_cwd(cwd: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in cwd)


@cache
def _minute(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:")


def fmt_ts(ms: int) -> str:
    minute, rest = divmod(ms, MIN_MS)
    return f"{_minute(minute)}{rest // 1000:02d}.{rest % 1000:03d}Z"


def uuid4(r: Random) -> str:
    h = f"{r.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def rid(r: Random, prefix: str, n: int) -> str:
    return prefix + "".join(r.choices(B62, k=n))


def pick(r: Random, table: tuple[tuple[Any, int], ...]) -> Any:
    return r.choices([x for x, _ in table], [w for _, w in table])[0]


class Truth:
    """What DESIGN.md §3 must count, recorded as responses are written."""

    def __init__(self) -> None:
        self.daily: dict[str, dict[str, list[int]]] = {}
        self.special: dict[str, dict[str, dict[str, list[int]]]] = {}
        self.lines: Counter[str] = Counter()
        self.files = 0
        self.bytes = 0
        self.costs: dict[str, dict[str, float]] | None = None

    def add(self, ts: str, model: str, u: Usage, kind: str | None = None) -> None:
        table = self.daily if kind is None else self.special.setdefault(kind, {})
        row = table.setdefault(ts[:10], {}).setdefault(model, [0] * len(TOKEN_KEYS))
        for i, v in enumerate((u.inp, u.out, u.cc5, u.cc1h, u.read, u.web, 1)):
            row[i] += v

    def report(self, args: dict[str, Any]) -> dict[str, Any]:
        out = {"schema": 1, "args": args, "files": self.files, "bytes": self.bytes}
        lines = self.lines.copy()
        lines["assistant_lines"] = sum(lines[k] for k in ASSISTANT_KINDS)
        out["lines"] = dict(sorted(lines.items()))
        out |= _summarise(self.daily)
        if self.costs is not None:
            out["costs"] = {d: dict(sorted(m.items())) for d, m in sorted(self.costs.items())}
        out["special"] = {
            kind: {"counted": kind in COUNTED_SPECIALS, **_summarise(self.special.get(kind, {}))}
            for kind in SPECIAL_KINDS
        }
        return out


SPECIAL_KINDS = ("sidechain_replay", "agent_progress", "requestless_copy", *QUIRKS)
ASSISTANT_KINDS: tuple[str, ...]  # grown below, as TOOLS
ASSISTANT_KINDS = ("assistant", "subagent_response", "compact_response", "btw_response")
ASSISTANT_KINDS += ("streamed_copy", "block_split", "resumed_copy", "sidechain_replay", "synthetic")
ASSISTANT_KINDS += tuple(f"quirk_{q}" for q in QUIRKS[:3])
COUNTED_SPECIALS = ("null_id_in_input", "microsecond_timestamp", "non_semver_version")


def _tokens(row: list[int]) -> dict[str, int]:
    d = dict(zip(TOKEN_KEYS, row, strict=True))
    d["cacheCreationTokens"] = d["cacheCreation5mTokens"] + d["cacheCreation1hTokens"]
    d["totalTokens"] = (
        d["inputTokens"] + d["outputTokens"] + d["cacheCreationTokens"] + d["cacheReadTokens"]
    )
    return dict(sorted(d.items()))


def _summarise(daily: dict[str, dict[str, list[int]]]) -> dict[str, Any]:
    days, grand = {}, [0] * len(TOKEN_KEYS)
    for day in sorted(daily):
        total = [sum(col) for col in zip(*daily[day].values(), strict=True)]
        grand = [a + b for a, b in zip(grand, total, strict=True)]
        models = {m: _tokens(daily[day][m]) for m in sorted(daily[day])}
        days[day] = {"totals": _tokens(total), "models": models}
    return {"totals": _tokens(grand), "daily": days}


class Writer:
    """Buffered append-only JSONL file; counts bytes and files into the truth."""

    def __init__(self, path: Path, truth: Truth) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f, self.truth, self.buf, self.n = path.open("wb"), truth, bytearray(), 0
        truth.files += 1

    def line(self, obj: Any, kind: str) -> None:
        start = len(self.buf)
        ENCODER.encode_into(obj, self.buf, -1)
        self.buf.append(10)
        self._account(len(self.buf) - start, kind)

    def raw(self, data: bytes, kind: str) -> None:
        self.buf += data + b"\n"
        self._account(len(data) + 1, kind)

    def _account(self, n: int, kind: str) -> None:
        self.n += n
        self.truth.bytes += n
        self.truth.lines[kind] += 1
        self.truth.lines["total"] += 1
        if len(self.buf) > 1 << 20:
            self.f.write(self.buf)
            self.buf.clear()

    def close(self, unterminated: bool = False) -> None:
        if self.f.closed:
            return
        if unterminated and self.buf.endswith(b"\n"):
            del self.buf[-1]  # a complete last line without its newline: ccusage counts it
            self.n -= 1
            self.truth.bytes -= 1
            self.truth.lines["unterminated_last_line"] += 1
        self.f.write(self.buf)
        self.f.close()


class Stream:
    """One conversation chain in one file: the main session, a subagent, a /btw aside."""

    def __init__(self, w: Writer, model: str, sidechain: bool = False, agent: str | None = None):
        self.w, self.model, self.sidechain, self.agent = w, model, sidechain, agent
        self.parent: str | None = None
        self.context = 0


class Session:
    def __init__(self, g: Corpus, plan: dict[str, Any]) -> None:
        r = self.r = g.r
        self.g, self.truth, self.plan = g, g.truth, plan
        self.sid, self.cwd, self.ver = uuid4(r), plan["cwd"], plan["version"]
        self.model, self.has_req = plan["model"], plan["has_req"]
        self.fast = self.model in FAST_MODELS and self.ver.rich and r.random() < 0.4
        self.geo = r.choice(("us", "us", "", "not_available")) if self.ver.geo else "not_available"
        self.ttl = r.choice(("5m", "1h", "1h", "mix"))
        self.branch = r.choice(("main", "main", "master", "feature/api", "fix/cache", "", "HEAD"))
        self.slug = "-".join(r.sample(g.words, 3)) if self.ver.modern else None
        self.t, self.end, self.bytes_budget = plan["start"], g.end_ms, plan["budget"]
        self.dir = g.root / "projects" / (plan.get("folder") or encode_cwd(self.cwd))
        self.main = Stream(Writer(self.dir / f"{self.sid}.jsonl", g.truth), self.model)
        self.writers = [self.main.w]
        self.tail: deque[dict[str, Any]] = deque(maxlen=40)
        self.cache_cold = False

    # -- clock and envelopes -------------------------------------------------------------
    def tick(self, lo: int, hi: int) -> str:
        step = self.r.randint(lo, hi)
        self.t += step if self.t + step < self.end else 1
        return fmt_ts(self.t)

    def envelope(self, st: Stream) -> dict[str, Any]:
        d: dict[str, Any] = {"parentUuid": st.parent, "isSidechain": st.sidechain}
        d |= {"userType": "external", "cwd": self.cwd, "sessionId": self.sid}
        d |= {"version": self.ver.name, "gitBranch": self.branch}
        if st.agent:
            d["agentId"] = st.agent
        if self.slug:
            d["slug"] = self.slug
        if self.ver.rich:
            d["entrypoint"] = "cli"
        return d

    def emit(self, st: Stream, line: dict[str, Any], kind: str, keep: bool = True) -> None:
        st.parent = line.get("uuid", st.parent)
        st.w.line(line, kind)
        if "costUSD" in line:
            self.truth.lines["cost_usd"] += 1
        if keep and st is self.main:
            self.tail.append(line)

    def text(self, lo: int, hi: int) -> str:
        lo, hi = max(1, int(lo * self.g.text_scale)), max(2, int(hi * self.g.text_scale))
        n = lo + min(int(self.r.lognormvariate(0, 1.0) * (hi - lo) / 6), hi - lo)
        o = self.r.randrange(len(self.g.pool) - n)
        return self.g.pool[o : o + n]

    # -- user-side lines -----------------------------------------------------------------
    def user(self, st: Stream, content: Any, result: Any = None, kind: str = "user") -> None:
        d = self.envelope(st) | {"type": "user", "message": {"role": "user", "content": content}}
        d |= {"uuid": uuid4(self.r), "timestamp": self.tick(200, 4_000)}
        if result is not None:
            d["toolUseResult"] = result
        self.emit(st, d, kind)

    def tool_result(self, st: Stream, tool_id: str, name: str) -> None:
        body = self.text(100, 1_500) if name != "Read" else self.text(600, 24_000)
        content: list[dict[str, str | bool]]
        content = [{"tool_use_id": tool_id, "type": "tool_result", "content": body}]
        if name == "Read":
            result: Any = {"type": "text", "file": {"filePath": f"{self.cwd}/src/mod.py"}}
            result["file"] |= {"content": body, "numLines": body.count("\n") + 1}
        elif name == "Bash":
            result = {"stdout": body, "stderr": "", "interrupted": False, "isImage": False}
        else:
            result = {"type": "update", "filePath": f"{self.cwd}/src/app.py"}
        content[0]["is_error"] = False
        self.user(st, content, result, "tool_result")

    def bookkeeping(self) -> None:
        r, w = self.r, self.main.w
        if r.random() < 0.4:
            mid = uuid4(r)
            snap = {"messageId": mid, "trackedFileBackups": {}, "timestamp": fmt_ts(self.t)}
            line = {"type": "file-history-snapshot", "messageId": mid, "snapshot": snap}
            w.line(line | {"isSnapshotUpdate": False}, "file_history_snapshot")
        if r.random() < 0.05:
            line = {"type": "queue-operation", "operation": "enqueue", "timestamp": fmt_ts(self.t)}
            w.line(line | {"sessionId": self.sid, "content": self.text(20, 200)}, "queue_operation")

    def system(self, subtype: str, **extra: Any) -> None:
        d = self.envelope(self.main) | {"type": "system", "subtype": subtype}
        d |= extra | {"isMeta": False, "timestamp": self.tick(5, 300), "uuid": uuid4(self.r)}
        self.emit(self.main, d, "system", keep=False)

    def hook_progress(self, tool_id: str, event: str) -> None:
        data = {"type": "hook_progress", "hookEvent": event, "hookName": f"{event}:Bash"}
        d = self.envelope(self.main) | {"type": "progress", "data": data | {"command": "guard.sh"}}
        d |= {"toolUseID": tool_id, "parentToolUseID": tool_id}
        d |= {"uuid": uuid4(self.r), "timestamp": self.tick(1, 40)}
        self.emit(self.main, d, "progress", keep=False)

    # -- assistant lines -----------------------------------------------------------------
    def usage(self, st: Stream) -> Usage:
        r = self.r
        if st.context == 0:
            read, cc = r.choice((0, r.randint(9_000, 25_000))), r.randint(3_000, 16_000)
            inp = r.randint(3, 12) if r.random() < 0.8 else r.randint(200, 6_000)
        elif self.cache_cold and st is self.main:
            read, cc, inp = 0, min(st.context, 165_000), r.randint(3, 12)
        else:
            read, cc = min(st.context, 165_000), int(r.lognormvariate(7.0, 1.1))
            inp = r.randint(1, 8) if r.random() < 0.85 else r.randint(50, 3_000)
        cc = max(0, min(cc, MAX_INPUT - read - inp))
        out = min(int(r.lognormvariate(5.0, 1.2)) + 1, 32_000)
        st.context, self.cache_cold = read + cc + inp + min(out, 4_000), False
        cc1h = cc if self.ttl == "1h" else 0 if self.ttl == "5m" else r.randint(0, cc)
        web = 1 if self.ver.rich and r.random() < 0.02 else 0
        return Usage(inp, out, cc - cc1h, cc1h, read, web)

    def usage_dict(self, u: Usage, out: int, fast: bool, synthetic: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"input_tokens": u.inp, "cache_creation_input_tokens": u.cc5 + u.cc1h}
        d["cache_read_input_tokens"] = u.read
        if self.ver.split:
            d["cache_creation"] = {"ephemeral_5m_input_tokens": u.cc5}
            d["cache_creation"]["ephemeral_1h_input_tokens"] = u.cc1h
        d["output_tokens"] = out
        if self.ver.rich:
            d["server_tool_use"] = {"web_search_requests": u.web, "web_fetch_requests": 0}
        d["service_tier"] = None if synthetic else "standard"
        if self.ver.modern:
            d["inference_geo"] = self.geo
        if self.ver.rich and not synthetic:
            it = {k: d[k] for k in ("input_tokens", "output_tokens", "cache_read_input_tokens")}
            it |= {"cache_creation_input_tokens": u.cc5 + u.cc1h, "type": "message"}
            d |= {"iterations": [it], "speed": "fast" if fast else "standard"}
        return d

    def block(self, kind: str, tool: str | None) -> dict[str, Any]:
        if kind == "thinking":
            sig = self.g.sigs[self.r.randrange(4_000) :][: self.r.randint(200, 900)]
            return {"type": "thinking", "thinking": self.text(80, 1_500), "signature": sig}
        if kind == "text":
            return {"type": "text", "text": self.text(20, 1_800)}
        d: dict[str, Any] = {"type": "tool_use", "id": rid(self.r, "toolu_01", 22), "name": tool}
        d["input"] = self.tool_input(tool or "Bash")
        return d | {"caller": {"type": "direct"}} if self.ver.modern else d

    def tool_input(self, tool: str) -> dict[str, Any]:
        path = f"{self.cwd}/src/{self.r.choice(self.g.words)}.py"
        if tool in ("Read", "Glob", "Grep"):
            return {"file_path": path} if tool == "Read" else {"pattern": self.text(3, 30)}
        if tool == "Edit":
            return {"file_path": path, "old_string": self.text(30, 400), "new_string": "x"}
        if tool == "Task":
            prompt = self.text(200, 1_500)
            return {"description": "Explore", "prompt": prompt, "subagent_type": "Explore"}
        if tool == "TodoWrite":
            return {"todos": [{"content": self.text(10, 80), "status": "pending"}]}
        return {"command": self.text(5, 120), "description": self.text(10, 60)}

    def assistant(
        self, st: Stream, model: str, mid: str, req: str | None, **kw: Any
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {"model": model, "id": mid, "type": "message", "role": "assistant"}
        msg |= {"content": [kw["block"]], "stop_reason": kw["stop"], "stop_sequence": None}
        if self.ver.rich:
            msg["stop_details"] = None
        msg["usage"] = kw["usage"]
        d = self.envelope(st) | {"message": msg}
        if req is not None:
            d["requestId"] = req
        d |= {"type": "assistant", "uuid": uuid4(self.r), "timestamp": kw["ts"]}
        if self.ver.cost and kw["usage"]:
            d["costUSD"] = legacy_cost(model, kw["usage"])
        return d

    def respond(
        self, st: Stream, tool: str | None = None, kind: str = "assistant"
    ) -> dict[str, Any]:
        r = self.r
        if st is self.main and st.context > 165_000:
            self.compact()
        if self.t % DAY_MS > DAY_MS - 60_000:  # keep one response's copies on one UTC day
            self.t += 60_000
        u, fast = self.usage(st), self.fast and r.random() < 0.5
        mid, req = rid(r, "msg_01", 22), rid(r, "req_011C", 20) if self.has_req else None
        blocks = [b for b, p in (("thinking", 0.35), ("text", 0.55)) if r.random() < p]
        blocks += ["tool"] if tool else [] if blocks[-1:] == ["text"] else ["text"]
        outs = self.partial_outputs(u.out, len(blocks))
        u = u._replace(out=outs[-1])
        copy = "streamed_copy" if outs[0] != outs[-1] else "block_split"
        stop = None if self.ver.modern and not self.ver.rich else "tool_use" if tool else "end_turn"
        advice = self.advice() if self.g.fall and self.ver.rich and st is self.main else []
        for i, b in enumerate(blocks):
            ts = self.tick(300, 2_500) if i else self.tick(1_500, 25_000)
            usage = self.usage_dict(u, outs[i], fast)
            if i == len(blocks) - 1 and advice:  # the final usage lists the advisor's calls
                usage["iterations"] += [it for it, _ in advice]
            line = self.assistant(
                st, st.model, mid, req, block=self.block(b, tool), stop=stop, ts=ts, usage=usage,
            )  # fmt: skip
            self.emit(st, line, kind if i == 0 else copy)
            if i < len(blocks) - 1 and req is None and not st.sidechain:
                self.truth.add(ts, st.model, u._replace(out=outs[i]), "requestless_copy")
        self.bill(line["timestamp"], st.model, u, fast)
        for it, au in advice:
            if it["type"] == "advisor_message":
                self.bill(line["timestamp"], it["model"], au, False)
                self.truth.lines["advisor_entries"] += 1
        self.truth.lines["unique_responses"] += 1
        self.truth.lines["streamed_responses"] += outs[0] != outs[-1]
        return line

    def bill(self, ts: str, model: str, u: Usage, fast: bool) -> None:
        """A response DESIGN.md §3 counts: its tokens, and under --fall its cost."""
        self.truth.add(ts, model, u)
        if self.truth.costs is not None and model in FALL_PRICES:
            name = f"{model}-fast" if fast else model  # the name reports show
            day = self.truth.costs.setdefault(ts[:10], {})
            day[name] = day.get(name, 0.0) + fall_cost(ts, model, u, fast, self.geo)

    def advice(self) -> list[tuple[dict[str, Any], Usage]]:
        """Usage iterations of an advisor's calls (sometimes after a failed fallback attempt)."""
        r = self.r
        if r.random() >= 0.2:
            return []
        model = r.choice(ADVISORS)
        u = Usage(r.randint(2_000, 30_000), r.randint(100, 3_000), r.randint(0, 4_000), 0,
                  r.choice((0, r.randint(1_000, 50_000))), 0)  # fmt: skip
        out = []
        if r.random() < 0.3:
            failed = {"type": "fallback_message", "model": model, "input_tokens": u.inp}
            out.append((failed | {"output_tokens": r.randint(1, 50)}, u))
            self.truth.lines["fallback_iterations"] += 1
        it = {"type": "advisor_message", "model": model, "input_tokens": u.inp}
        it |= {"output_tokens": u.out, "cache_creation_input_tokens": u.cc5}
        it["cache_read_input_tokens"] = u.read
        return [*out, (it, u)]

    def partial_outputs(self, out: int, k: int) -> list[int]:
        if k == 1 or self.r.random() < 0.3:
            return [out] * k
        out = max(out, 3 * k)
        cuts = sorted(self.r.sample(range(1, out), k - 1))
        return [*cuts, out]

    # -- conversation --------------------------------------------------------------------
    def run(self) -> None:
        if self.plan.get("resume_from"):
            self.copy_history(self.plan["resume_from"])
        if self.bytes_budget < 3_000:
            self.bookkeeping()
            self.user(self.main, self.text(5, 200))
        specials = list(self.plan["specials"])
        while self.written() < self.bytes_budget or specials:
            self.turn(specials)
        self.main.w.close(unterminated=self.g.fall and self.r.random() < UNTERMINATED)
        for w in self.writers:
            w.close()

    def written(self) -> int:
        return sum(w.n for w in self.writers)

    def turn(self, specials: list[str]) -> None:
        r = self.r
        if self.main.context > 150_000 or (self.main.context > 40_000 and r.random() < 0.03):
            self.compact()
        self.bookkeeping()
        self.user(self.main, self.text(10, 900))
        for _ in range(min(int(r.expovariate(0.45)), 12)):
            if self.written() >= self.bytes_budget:
                break
            tool = pick(r, TOOLS)
            line = self.respond(self.main, tool)
            tool_id = line["message"]["content"][0]["id"]
            if tool == "Task":
                self.subagent(tool_id)
                continue
            if r.random() < 0.3:
                self.hook_progress(tool_id, "PreToolUse")
            self.tool_result(self.main, tool_id, tool)
        last = self.respond(self.main)
        if specials and (r.random() < 0.5 or self.written() >= self.bytes_budget):
            self.g.special(self, specials.pop(), last)
        if r.random() < 0.5:
            self.system("turn_duration", durationMs=r.randint(2_000, 400_000))
        self.pause()

    def pause(self) -> None:
        r = self.r
        gap = r.randint(20_000, 300_000)
        if r.random() < 0.06:
            gap = r.randint(HOUR_MS, 7 * HOUR_MS)
        if self.t + gap < self.end - 2 * HOUR_MS:
            self.t += gap
            self.cache_cold = gap > (HOUR_MS if self.ttl != "5m" else 5 * MIN_MS)

    def subagent(self, tool_id: str) -> None:
        r, g = self.r, self.g
        agent = "a" + f"{r.getrandbits(64):016x}"[: r.choice((7, 16))]
        path = self.dir / self.sid / "subagents" / f"agent-{agent}.jsonl"
        subs = FALL_SUB_MODELS if g.fall else SUB_MODELS
        st = Stream(Writer(path, self.truth), r.choice(subs), True, agent)
        self.writers.append(st.w)
        self.user(st, self.text(100, 1_200))
        for i in range(r.randint(1, 12)):
            tool = pick(r, TOOLS[:5]) if i < 11 and r.random() < 0.8 else None
            line = self.respond(st, tool, "subagent_response")
            if r.random() < 0.9:
                self.agent_progress(line, agent, tool_id, "agent_progress")
            if tool:
                self.tool_result(st, line["message"]["content"][0]["id"], tool)
        st.w.close()
        summary = dict(line["message"]["usage"])
        result: dict[str, Any]
        result = {"status": "completed", "prompt": "Explore the code", "agentId": agent}
        result |= {"content": [{"type": "text", "text": self.text(50, 800)}]}
        total = sum(usage_of(line)[:5])
        result |= {"totalDurationMs": r.randint(5_000, 400_000), "totalTokens": total}
        result |= {"totalToolUseCount": r.randint(0, 30), "usage": summary}
        content = [{"tool_use_id": tool_id, "type": "tool_result", "content": "done"}]
        self.user(self.main, content, result, "tool_result")
        g.truth.lines["tool_use_result_usage"] += 1

    def agent_progress(self, line: dict[str, Any], agent: str, tool_id: str, kind: str) -> None:
        nested = {"type": "assistant", "message": line["message"]}
        if "requestId" in line:
            nested["requestId"] = line["requestId"]
        nested |= {"uuid": line["uuid"], "timestamp": line["timestamp"], "isSidechain": True}
        data = {"message": nested, "normalizedMessages": [], "type": "agent_progress"}
        data |= {"prompt": "Explore the code", "agentId": agent}
        d = self.envelope(self.main) | {"type": "progress", "data": data}
        d |= {"toolUseID": "agent_" + line["message"]["id"], "parentToolUseID": tool_id}
        d |= {"uuid": uuid4(self.r), "timestamp": self.tick(20, 400)}
        self.emit(self.main, d, kind, keep=False)
        self.truth.lines["progress"] += 1
        self.truth.add(line["timestamp"], line["message"]["model"], usage_of(line), kind)

    def compact(self) -> None:
        agent = f"acompact-{self.r.getrandbits(24):06x}"
        path = self.dir / self.sid / "subagents" / f"agent-{agent}.jsonl"
        st = Stream(Writer(path, self.truth), self.model, True, agent)
        st.context = self.main.context
        self.writers.append(st.w)
        self.user(st, "Your task is to create a detailed summary of the conversation so far.")
        self.respond(st, None, "compact_response")
        st.w.close()
        pre = self.main.context
        self.main.parent = None
        trigger = "auto" if pre > 150_000 else "manual"
        self.system("compact_boundary", compactMetadata={"trigger": trigger, "preTokens": pre})
        self.main.context = self.r.randint(15_000, 30_000)
        self.user(self.main, "This session is being continued from a previous conversation.")

    def copy_history(self, tail: list[dict[str, Any]]) -> None:
        for _ in range(self.r.randint(0, 2)):
            line = {"type": "summary", "summary": self.text(10, 60), "leafUuid": uuid4(self.r)}
            self.main.w.line(line, "summary")
        for line in tail[-self.r.randint(4, len(tail)) :]:
            copy = line | {"sessionId": self.sid}
            kind = "resumed_copy" if line["type"] == "assistant" else "resumed_user_copy"
            self.emit(self.main, copy, kind, keep=False)
        self.main.context = self.plan["resume_context"]


class Corpus:
    def __init__(
        self,
        root: Path,
        seed: int,
        start: str,
        days: int,
        quirks: bool,
        fall: bool = False,
        projects: int | None = None,
        text_scale: float = 1.0,
    ) -> None:
        self.root, self.r, self.truth, self.quirks = root, Random(seed), Truth(), quirks
        self.fall, self.n_projects, self.text_scale = fall, projects, text_scale
        if fall:
            self.truth.costs = {}
        t0 = datetime.fromisoformat(start).replace(tzinfo=UTC)
        self.start_ms = int(t0.timestamp() * 1000)
        self.end_ms = self.start_ms + days * DAY_MS
        self.words = [
            "".join(self.r.choices(string.ascii_lowercase, k=self.r.randint(2, 9)))
            for _ in range(600)
        ]
        self.pool = self.make_pool(400_000)
        self.sigs = "".join(self.r.choices(B62 + "+/", k=5_000))

    def make_pool(self, n: int) -> str:
        r, parts, size = self.r, [], 0
        while size < n:
            w = r.choice(self.words)
            sep = "\n" if r.random() < 0.06 else ". " if r.random() < 0.08 else " "
            parts.append(w + sep)
            size += len(w) + len(sep)
        return "".join(parts)

    # -- planning ------------------------------------------------------------------------
    def projects(self, n: int) -> list[str]:
        fixed = ["/home/dev/src/github.com/acme/web_app", "/Users/sam/Code/My Project"]
        fixed += ["C:\\Users\\bob\\src\\tool", "/home/dev/src/my-app", "/home/dev/src/my_app"]
        fixed += ["/home/dev/src/café"]
        names = self.r.sample(self.words, min(n, 500))
        rest = [f"/home/dev/{self.r.choice(self.words)}/{w}" for w in names]
        return (fixed + rest)[: max(n, 3)]

    def plan(self, sessions: int, target: int) -> list[dict[str, Any]]:
        r = self.r
        sizes = [r.lognormvariate(0, SIGMA) for _ in range(sessions)]
        scale = target / sum(sizes)
        cwds = self.projects(self.n_projects or max(3, sessions // 10))
        plans: list[dict[str, Any]] = []
        for i, size in enumerate(sizes):
            ver = pick(r, FALL_VERSIONS if self.fall else VERSIONS)
            model = pick(r, FALL_MODELS if self.fall else MODELS)
            plan = {"cwd": r.choice(cwds), "version": ver, "model": model, "specials": []}
            if self.fall and r.random() < 0.2:  # CLAUDE_CODE_PROJECT_DIR_NAME chose the folder
                plan["folder"] = "box-" + r.choice(self.words)
            plan |= {"budget": int(size * scale), "has_req": not model.startswith("us.")}
            plan["has_req"] = plan["has_req"] or r.random() < 0.5
            plan["resume"] = i > 0 and not plans[-1]["resume"] and r.random() < 0.06
            plans.append(plan)
        if not any(p["resume"] for p in plans) and sessions >= 2:
            plans[1 + max(range(sessions - 1), key=lambda i: plans[i]["budget"])]["resume"] = True
        for prev, plan in pairwise(plans):
            prev["has_req"] = prev["has_req"] or plan["resume"]
        self.assign_specials(plans)
        for i, plan in enumerate(plans):
            follow = i + 1 < len(plans) and plans[i + 1]["resume"]
            plan["start"] = self.start_time(plan["budget"], 3 if follow else 1)
        return plans

    def assign_specials(self, plans: list[dict[str, Any]]) -> None:
        r = self.r
        kinds = [("synthetic", 0.15), ("btw", 0.08)] + [(m, 0.01) for m in MALFORMED]
        kinds += [(q, 0.01) for q in QUIRKS] if self.quirks else []
        real = [p for p in plans if p["budget"] >= 3_000] or plans
        if not self.fall and not any(p["version"].cost for p in real):  # no costUSD in 2026
            real[0]["version"] = VERSIONS[0][0]
        for kind, rate in kinds:
            eligible = [p for p in real if kind != "btw" or p["has_req"]] or real
            for _ in range(max(1, round(rate * len(plans)))):
                r.choice(eligible)["specials"].append(kind)
        for p in real:
            r.shuffle(p["specials"])

    def start_time(self, budget: int, room: float) -> int:
        r = self.r
        duration = min(budget / 1_900 * r.uniform(6_000, 20_000), 10 * HOUR_MS)
        span = self.end_ms - self.start_ms - int(duration * room) - 3 * HOUR_MS
        day = r.randrange(max(1, -(-span // DAY_MS))) * DAY_MS
        hour = r.choice((6, 7, 8, 9, 9, 10, 11, 13, 14, 14, 15, 16, 17, 19, 21, 23)) * HOUR_MS
        return self.start_ms + min(day + hour + r.randrange(HOUR_MS), max(span, 0))

    # -- special lines -------------------------------------------------------------------
    def special(self, s: Session, kind: str, last: dict[str, Any]) -> None:
        if kind == "synthetic":
            self.synthetic(s)
        elif kind == "btw":
            self.btw(s, last)
        elif kind == "orphan_progress":
            self.orphan_progress(s)
        elif kind in QUIRKS:
            self.quirk(s, kind)
        else:
            self.malformed(s, kind)

    def synthetic(self, s: Session) -> None:
        error = s.r.random() < 0.7
        text = "API Error: Rate limit reached" if error else "No response requested."
        line = s.assistant(
            s.main, "<synthetic>", uuid4(s.r), None, stop="stop_sequence", ts=s.tick(50, 900),
            block={"type": "text", "text": text}, usage=None,
        )  # fmt: skip
        if s.r.random() < 0.5:
            line["message"]["usage"] = s.usage_dict(Usage(0, 0, 0, 0, 0, 0), 0, False, True)
        else:
            del line["message"]["usage"]
        line.pop("costUSD", None)
        if error:
            line |= {"error": "rate_limit", "isApiErrorMessage": True, "apiErrorStatus": 429}
        s.emit(s.main, line, "synthetic", keep=False)

    def btw(self, s: Session, parent: dict[str, Any]) -> None:
        agent = f"aside_question-{s.r.getrandbits(64):016x}"
        path = s.dir / s.sid / "subagents" / f"agent-{agent}.jsonl"
        st = Stream(Writer(path, self.truth), s.model, True, agent)
        st.context = s.main.context
        s.writers.append(st.w)
        s.user(st, "/btw " + s.text(10, 200))
        replay = parent | {"isSidechain": True, "agentId": agent, "parentUuid": st.parent}
        replay |= {"requestId": rid(s.r, "req_011C", 20), "uuid": uuid4(s.r)}
        replay["timestamp"] = s.tick(200, 2_000)
        s.emit(st, replay, "sidechain_replay")
        model = parent["message"]["model"]
        self.truth.add(replay["timestamp"], model, usage_of(parent), "sidechain_replay")
        s.respond(st, None, "btw_response")
        st.w.close()

    def orphan_progress(self, s: Session) -> None:
        st = Stream(s.main.w, "claude-haiku-4-5-20251001", True, "a" + rid(s.r, "", 6).lower())
        u = s.usage(st)
        line = s.assistant(
            st, st.model, rid(s.r, "msg_01", 22), rid(s.r, "req_011C", 20), stop=None,
            block={"type": "text", "text": s.text(20, 300)}, ts=s.tick(100, 900),
            usage=s.usage_dict(u, u.out, False),
        )  # fmt: skip
        s.agent_progress(line, st.agent or "", rid(s.r, "toolu_01", 22), "orphan_progress")

    def quirk(self, s: Session, kind: str) -> None:
        u = s.usage(s.main)
        line = s.assistant(
            s.main, s.model, rid(s.r, "msg_01", 22), rid(s.r, "req_011C", 20), stop="end_turn",
            block=s.block("tool", "Bash"), ts=s.tick(1_000, 9_000),
            usage=s.usage_dict(u, u.out, False),
        )  # fmt: skip
        if kind == "null_id_in_input":
            line["message"]["content"][0]["input"] = {"id": None, "query": s.text(5, 40)}
        elif kind == "microsecond_timestamp":
            line["timestamp"] = line["timestamp"][:-1] + f"{s.r.randrange(1000):03d}Z"
        else:
            line["version"] = "2.1"
        s.emit(s.main, line, f"quirk_{kind}", keep=False)
        s.bill(line["timestamp"], s.model, u, False)
        self.truth.add(line["timestamp"], s.model, u, kind)
        self.truth.lines["unique_responses"] += 1

    def malformed(self, s: Session, kind: str) -> None:
        if kind == "not_json":
            data = s.r.choice((b"<<<<<<< HEAD", b"Error: ENOSPC: no space left on device"))
            s.main.w.raw(data, "malformed_not_json")
            return
        u = s.usage(s.main)
        line = s.assistant(
            s.main, s.model, rid(s.r, "msg_01", 22), rid(s.r, "req_011C", 20), stop="end_turn",
            block={"type": "text", "text": s.text(40, 600)}, ts=s.tick(1_000, 9_000),
            usage=s.usage_dict(u, u.out, False),
        )  # fmt: skip
        usage = line["message"]["usage"]
        if kind == "truncated":
            data = ENCODER.encode(line)
            cut = data.index(b'"usage":{') + 12
            s.main.w.raw(data[: s.r.randrange(cut, len(data) - 2)], "malformed_truncated")
            return
        if kind == "missing_input_tokens":
            del usage["input_tokens"]
        elif kind == "negative_tokens":
            usage["output_tokens"] = -usage["output_tokens"]
        elif kind == "float_tokens":
            usage["input_tokens"] = float(usage["input_tokens"])
        elif kind == "string_tokens":
            usage["cache_read_input_tokens"] = str(usage["cache_read_input_tokens"])
        else:
            line["timestamp"] = datetime.fromisoformat(line["timestamp"]).strftime(
                "%a %b %d %Y %H:%M:%S GMT+0000"
            )
        s.emit(s.main, line, f"malformed_{kind}", keep=False)


def generate(
    out_dir: str | Path,
    *,
    seed: int = 7,
    sessions: int = 40,
    target_bytes: int | None = None,
    start: str = "2026-09-01",
    days: int = 10,
    quirks: bool = False,
    fall: bool = False,
    projects: int | None = None,
    text_scale: float = 1.0,
) -> dict[str, Any]:
    """Write the corpus under ``out_dir`` and return (and save) its ground truth."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    args: dict[str, str | int | float | None]
    args = {"seed": seed, "sessions": sessions, "target_bytes": target_bytes, "start": start}
    args |= {"days": days, "quirks": quirks}
    if fall:
        args["fall"] = True
    if projects is not None or text_scale != 1.0:  # a benchmark's shape; defaults keep old bytes
        args |= {"projects": projects, "text_scale": text_scale}
    g = Corpus(root, seed, start, days, quirks, fall, projects, text_scale)
    prev: Session | None = None
    for plan in g.plan(sessions, target_bytes or sessions * SESSION_BYTES):
        if plan["resume"] and prev is not None and len(prev.tail) >= 4:
            plan |= {"cwd": prev.cwd, "version": prev.ver, "model": prev.model}
            plan |= {"has_req": prev.has_req, "resume_context": prev.main.context}
            plan |= {"resume_from": list(prev.tail), "start": prev.t + g.r.randint(MIN_MS, HOUR_MS)}
        prev = Session(g, plan)
        prev.run()
    truth = g.truth.report(args)
    (root / "ground_truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("out_dir")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--sessions", type=int, default=40)
    p.add_argument("--target-bytes", type=int, default=None)
    p.add_argument("--start", default="2026-09-01")
    p.add_argument("--days", type=int, default=10)
    p.add_argument("--quirks", action="store_true")
    p.add_argument("--fall", action="store_true", help="fall-2026 models and line shapes")
    p.add_argument("--projects", type=int, default=None, help="project folders (sessions/10)")
    p.add_argument(
        "--text-scale", type=float, default=1.0, help="scale prose and tool output lengths"
    )
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    truth = generate(
        a.out_dir, seed=a.seed, sessions=a.sessions, target_bytes=a.target_bytes,
        start=a.start, days=a.days, quirks=a.quirks, fall=a.fall,
        projects=a.projects, text_scale=a.text_scale,
    )  # fmt: skip
    secs = time.perf_counter() - t0
    mb = truth["bytes"] / 1e6
    print(
        f"{truth['files']} files, {mb:.1f} MB in {secs:.2f} s ({mb / secs:.0f} MB/s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
