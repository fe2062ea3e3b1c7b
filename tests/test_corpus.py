"""The corpus generator (tests/corpus.py) against itself and against ccusage 20.0.24.

The fixtures under ``tests/data/ccusage-20.0.24/`` are ccusage's verbatim JSON on two generated
corpora (see the README there). The generator's ground truth follows DESIGN.md §3; ccusage agrees
with it except where ccusage 20.0.24 is knowingly different, and each difference is recorded by
the generator, so these tests check it to the token, per day (or bucket) and per model:

* ``claude daily`` (and the root ``daily``) uses its own loader (``daily.rs``). It drops ``/btw``
  sidechain replays (a sidechain line whose message.id belongs to a non-sidechain response under
  another requestId), and it reads ``agent_progress`` lines: a nested copy that repeats a subagent
  response changes nothing, an orphan one is billed. For lines **without requestId** its dedup
  key is (message.id, sessionId, timestamp) (ccusage PR #1661), so every copy of a request-less
  response written at a different timestamp is billed again (``requestless_copy``).
* ``claude weekly/monthly/session`` and ``claude blocks`` use the generic loader. It ignores
  ``progress`` lines and collapses request-less copies within a session, but it does not apply
  the sidechain-replay rule to a replay written at a new timestamp: every replay is billed again
  (``sidechain_replay``). So these reports equal the ground truth plus the replays.
* Both loaders silently drop lines DESIGN.md counts: ``"id":null`` anywhere in the line (even
  inside a tool input), a timestamp without exactly 3 fractional digits, a non-semver version.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from corpus import generate

DATA = Path(__file__).parent / "data" / "ccusage-20.0.24"
FIXTURES = ("standard-seed7", "quirks-seed11", "fall-seed13")
KEYS = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens")
BLOCK_KEYS = dict(
    zip(
        ("inputTokens", "outputTokens", "cacheCreationInputTokens", "cacheReadInputTokens"),
        KEYS,
        strict=True,
    )
)
REJECTED_BY_CCUSAGE = ("null_id_in_input", "microsecond_timestamp", "non_semver_version")
GENERIC = {"weekly": "week", "monthly": "month", "session": None, "blocks": None}

Corpora = dict[str, tuple[Path, dict[str, Any]]]  # fixture name: (root, ground truth)
Tally = Counter[tuple[str, str, str]]  # (day or period, model, token key): tokens
# (message.id, requestId), (non-sidechain, total tokens), day, model, tokens
Entry = tuple[tuple[str, str | None], tuple[bool, int], str, str, list[int]]


def load(fixture: str, report: str) -> Any:
    return json.loads((DATA / fixture / f"{report}.json").read_text())


@pytest.fixture(scope="session")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> Corpora:
    out = {}
    for name in FIXTURES:
        root = tmp_path_factory.mktemp(name)
        out[name] = (root, generate(root, **load(name, "corpus")["args"]))
    return out


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.glob("projects/**/*.jsonl")):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def week(day: str) -> str:
    d = date.fromisoformat(day)
    return (d - timedelta(days=(d.weekday() + 1) % 7)).isoformat()  # claude weekly: Sunday


def period(day: str, kind: str | None) -> str:
    by_kind: dict[str | None, Callable[[str], str]]
    by_kind = {"week": week, "month": lambda d: d[:7], None: lambda d: "all"}
    return by_kind[kind](day)


def expected(gt: dict[str, Any], plus: tuple[str, ...], kind: str | None = "date") -> Tally:
    """Ground truth minus what ccusage rejects plus what the given loader adds."""
    out: Tally = Counter()
    parts = [(gt["daily"], 1)] + [(gt["special"][k]["daily"], -1) for k in REJECTED_BY_CCUSAGE]
    for daily, sign in parts + [(gt["special"][k]["daily"], 1) for k in plus]:
        for day, row in daily.items():
            for model, tokens in row["models"].items():
                bucket = day if kind == "date" else period(day, kind)
                for k in KEYS:
                    out[bucket, model, k] += sign * tokens[k]
    return +out


def reported(rows: list[dict[str, Any]], kind: str | None) -> Tally:
    out: Tally = Counter()
    for row in rows:
        bucket = "all" if kind is None else row.get(kind, "all")
        for b in row["modelBreakdowns"]:
            for k in KEYS:
                out[bucket, b["modelName"].removesuffix("-fast"), k] += b[k]
    return +out


def test_generation_is_deterministic(tmp_path: Path) -> None:
    gen = partial(generate, seed=3, sessions=12, days=3, quirks=True)
    first, second = gen(tmp_path / "a"), gen(tmp_path / "b")
    assert first == second
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    gen(tmp_path / "c", seed=4)
    assert tree(tmp_path / "c") != tree(tmp_path / "a")


@pytest.mark.parametrize("name", FIXTURES)
def test_fixtures_were_made_from_this_generator(name: str, corpora: Corpora) -> None:
    root, gt = corpora[name]
    meta = load(name, "corpus")
    assert (gt["files"], gt["bytes"]) == (meta["files"], meta["bytes"])
    assert digest(root) == meta["sha256"], "corpus.py changed: regenerate the ccusage fixtures"


@pytest.mark.parametrize("name", FIXTURES)
def test_daily_equals_ground_truth_up_to_documented_quirks(name: str, corpora: Corpora) -> None:
    gt = corpora[name][1]
    daily = load(name, "daily")["daily"]
    want = expected(gt, ("requestless_copy", "orphan_progress"))
    assert reported(daily, "date") == want
    for row in daily:
        used = {m.removesuffix("-fast") for m in row["modelsUsed"]}
        assert used == {m for d, m, _ in want if d == row["date"]}


@pytest.mark.parametrize("report", GENERIC)
@pytest.mark.parametrize("name", FIXTURES)
def test_generic_loader_reports_add_sidechain_replays(
    name: str, report: str, corpora: Corpora
) -> None:
    gt = corpora[name][1]
    data = load(name, report)
    want = expected(gt, ("sidechain_replay",), GENERIC[report])
    totals: Counter[str] = Counter()
    for (_, _, k), v in want.items():
        totals[k] += v
    if report == "blocks":
        blocks = [b for b in data["blocks"] if not b["isGap"]]
        got = Counter({BLOCK_KEYS[k]: sum(b["tokenCounts"][k] for b in blocks) for k in BLOCK_KEYS})
        assert got == totals
        return
    rows = data["weekly" if report == "weekly" else "sessions" if report == "session" else report]
    assert reported(rows, GENERIC[report]) == want
    assert Counter({k: data["totals"][k] for k in KEYS}) == totals
    assert gt["special"]["sidechain_replay"]["totals"]["totalTokens"] > 0


def test_corpus_contains_every_kind_of_line(corpora: Corpora) -> None:
    standard, quirks = corpora["standard-seed7"][1]["lines"], corpora["quirks-seed11"][1]["lines"]
    kinds = ["streamed_copy", "block_split", "resumed_copy", "sidechain_replay", "agent_progress"]
    kinds += ["synthetic", "tool_use_result_usage", "cost_usd", "summary", "queue_operation"]
    kinds += ["file_history_snapshot", "system", "compact_response", "subagent_response"]
    kinds += ["malformed_" + m for m in ("not_json", "truncated", "missing_input_tokens")]
    kinds += ["malformed_" + m for m in ("negative_tokens", "float_tokens", "string_tokens")]
    assert all(standard.get(k) for k in [*kinds, "malformed_bad_timestamp"]), standard
    quirk_kinds = [f"quirk_{q}" for q in REJECTED_BY_CCUSAGE] + ["orphan_progress"]
    assert all(quirks.get(k) for k in quirk_kinds) and not any(k in standard for k in quirk_kinds)
    special = corpora["standard-seed7"][1]["special"]
    for kind in ("sidechain_replay", "agent_progress", "requestless_copy"):
        assert special[kind]["totals"]["totalTokens"] > 0, kind
    assert 0.3 <= standard["streamed_responses"] / standard["unique_responses"] <= 0.45


@pytest.mark.parametrize("name", FIXTURES)
def test_ground_truth_matches_an_independent_reading_of_the_files(
    name: str, corpora: Corpora
) -> None:
    """DESIGN.md §3 applied to the written bytes gives the generator's own record."""
    root, gt = corpora[name]
    paths = sorted(root.glob("projects/**/*.jsonl"))
    lines = [raw for p in paths for raw in p.read_bytes().splitlines()]
    assert len(lines) == gt["lines"]["total"]
    assert sum(p.stat().st_size for p in paths) == gt["bytes"] and len(paths) == gt["files"]
    for p in paths:
        parts = p.relative_to(root / "projects").parts
        assert re.fullmatch(r"[A-Za-z0-9-]+", parts[0]), p
        assert len(parts) == 2 or (parts[2] == "subagents" and parts[3].startswith("agent-")), p
    best: dict[tuple[str, str | None], Entry] = {}
    for raw in lines:
        for entry in usage_entries(raw):
            key, rank = entry[0], entry[1]
            if key not in best or rank > best[key][1]:
                best[key] = entry
    main_ids = {key[0] for key, (_, rank, _, _, _) in best.items() if rank[0]}
    got: Tally = Counter()
    for (mid, _), (_, rank, day, model, tokens) in best.items():
        if rank[0] or mid not in main_ids:  # a sidechain copy of a main response is a replay
            for k, v in zip(KEYS, tokens, strict=True):
                got[day, model, k] += v
    want = Counter(
        {
            (d, m, k): t[k]
            for d, r in gt["daily"].items()
            for m, t in r["models"].items()
            for k in KEYS
        }
    )
    assert +got == +want
    start = date.fromisoformat(gt["args"]["start"])
    assert {date.fromisoformat(d) - start for d in gt["daily"]} <= {
        timedelta(n) for n in range(gt["args"]["days"])
    }


def usage_entries(raw: bytes) -> list[Entry]:
    """(key, rank, day, model, tokens) for each entry DESIGN.md §3 bills in a line: the response,
    then each advisor_message iteration under its own model and ``<id>:advisor:<n>``."""
    try:
        line = json.loads(raw)
    except ValueError:
        return []
    if line.get("type") != "assistant" or not (msg := line.get("message")):
        return []
    usage = msg.get("usage")
    if not usage or msg.get("model") == "<synthetic>":
        return []
    main = usage_entry(line, msg["id"], msg["model"], usage)
    if main is None:
        return []
    advisors = [it for it in usage.get("iterations", []) if it["type"] == "advisor_message"]
    return [main] + [
        e for n, it in enumerate(advisors)
        if (e := usage_entry(line, f"{msg['id']}:advisor:{n}", it["model"], it)) is not None
    ]  # fmt: skip


def usage_entry(line: dict[str, Any], mid: str, model: str, usage: dict[str, Any]) -> Entry | None:
    usage = {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0} | usage
    fields = (
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    )
    if not all(type(usage.get(f)) is int and usage[f] >= 0 for f in fields):
        return None
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,6}Z", line.get("timestamp", "")):
        return None
    tokens = [usage[f] for f in fields]
    assert tokens[0] + tokens[2] + tokens[3] < 200_000, "long-context pricing must not apply"
    rank = (not line.get("isSidechain"), sum(tokens))
    return (mid, line.get("requestId")), rank, line["timestamp"][:10], model, tokens


def test_fall_corpus_has_every_fall_2026_shape(corpora: Corpora) -> None:
    root, gt = corpora["fall-seed13"]
    lines = gt["lines"]
    for kind in ("unterminated_last_line", "advisor_entries", "fallback_iterations"):
        assert lines[kind] > 0, kind
    unterminated = [
        p for p in root.glob("projects/**/*.jsonl") if not p.read_bytes().endswith(b"\n")
    ]
    assert len(unterminated) == lines["unterminated_last_line"]
    assert any(b'"type":"assistant"' in p.read_bytes().rsplit(b"\n", 1)[-1] for p in unterminated)
    folders = {p.name for p in (root / "projects").iterdir()}
    assert any(f.startswith("box-") for f in folders), folders
    text = b"".join(p.read_bytes() for p in root.glob("projects/**/*.jsonl"))
    assert b'"inference_geo":"us"' in text and b'"speed":"fast"' in text
    days = {m: {d for d, row in gt["daily"].items() if m in row["models"]}
            for m in ("claude-sonnet-5-5", "claude-haiku-5-5", "claude-opus-5-5[1m]",
                      "claude-fable-5-1", "claude-mythos-5-1", "claude-opus-5-5")}  # fmt: skip
    assert all(days.values()), days
    assert min(days["claude-sonnet-5-5"]) < "2026-10-07" <= max(days["claude-sonnet-5-5"])
    assert any(m.endswith("-fast") for d in gt["costs"].values() for m in d)
    assert "costs" not in corpora["standard-seed7"][1]
    prompts = [sum(e[4][:1] + e[4][2:]) for raw in text.splitlines()
               for e in usage_entries(raw) if e[3] == "claude-haiku-5-5"]  # fmt: skip
    assert min(prompts) <= 100_000 < max(prompts)  # both sides of Haiku 5.5's band
