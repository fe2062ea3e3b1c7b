"""The pure plan rules: events derived from successive file states, once each, and a read model
fold that does not depend on arrival order or duplicates."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st
from usagectl.projections.plan_events import (
    ACTIVE,
    COMPLETE,
    Fact,
    Feature,
    Manifest,
    Snapshot,
    derive,
    derive_all,
    parse_manifest,
)
from usagectl.projections.planfold import Step, summarise

P, PLAN = "/work/proj", "auth"


def snap(t: int, statuses: dict[str, str] | None, location: str = ACTIVE,
         urls: tuple[str, ...] = ()) -> Snapshot:  # fmt: skip
    if statuses is None:
        return Snapshot(P, PLAN, location, plan_ms=1000, moved_ms=t)
    features = tuple(Feature(f, s, f"feature {f}") for f, s in statuses.items())
    return Snapshot(P, PLAN, location, 1000, t, t, Manifest(features, urls), "m.jsonl")


def kinds(facts: list[Fact]) -> list[tuple[str, str | None]]:
    return [(f.kind, f.feature_id) for f in facts]


def test_the_workflow_step_by_step() -> None:
    url = "https://github.com/o/r/pull/7"
    steps = [
        snap(1000, None),
        snap(2000, {"F1": "pending", "F2": "pending"}),
        snap(3000, {"F1": "in_progress", "F2": "pending"}),
        snap(4000, {"F1": "completed", "F2": "in_progress"}),
        snap(5000, {"F1": "completed", "F2": "failed"}),
        snap(6000, {"F1": "completed", "F2": "in_progress"}),
        snap(7000, {"F1": "completed", "F2": "completed"}, urls=(url,)),
        snap(8000, {"F1": "completed", "F2": "completed"}, COMPLETE, (url,)),
    ]
    facts = derive_all(steps)
    assert kinds(facts) == [
        ("plan_created", None), ("plan_optimized", None), ("feature_created", "F1"),
        ("feature_created", "F2"), ("orchestration_started", None), ("feature_started", "F1"),
        ("feature_completed", "F1"), ("feature_started", "F2"), ("feature_failed", "F2"),
        ("feature_started", "F2"), ("feature_completed", "F2"), ("pr_created", None),
        ("orchestration_completed", None),
    ]  # fmt: skip
    assert len({f.event_id for f in facts}) == len(facts)  # the retry is a second start
    assert [f.ts_ms for f in facts if f.feature_id == "F2" and f.status] == [4000, 5000, 6000,
                                                                             7000]  # fmt: skip
    assert next(f for f in facts if f.kind == "pr_created").pr_url == url
    assert next(f for f in facts if f.kind == "plan_optimized").data["feature_count"] == 2


def test_rereading_the_same_files_adds_nothing_and_lost_state_gives_the_same_ids() -> None:
    steps = [snap(1000, None), snap(2000, {"F1": "pending"}), snap(3000, {"F1": "in_progress"}),
             snap(4000, {"F1": "completed"}, COMPLETE)]  # fmt: skip
    seen = None
    ids: set[str] = set()
    for s in steps:
        facts, seen = derive(seen, s)
        ids |= {f.event_id for f in facts}
        again, seen = derive(seen, s)
        assert again == []
    rescanned, _ = derive(None, steps[-1])  # the state file was lost
    assert {f.event_id for f in rescanned} <= ids


def test_malformed_manifest_lines_are_counted_with_a_reason() -> None:
    good = {"id": "F1", "status": "in_progress", "description": "x", "depends_on": ["F0"]}
    data = b"\n".join([
        json.dumps(good).encode(), b"{not json", b"[1, 2]", b'{"status": "pending"}',
        b'{"id": "F2", "status": "weird"}', b"", b'{"id": "F3", "pr_url": "https://x/pull/1"',
    ])  # fmt: skip
    m = parse_manifest(data)
    assert m.rejected == {"bad_json": 1, "not_an_object": 1, "no_id": 1, "unknown_status": 1,
                          "partial_line": 1}  # fmt: skip
    assert [(f.id, f.status) for f in m.features] == [("F1", "in_progress"), ("F2", None)]
    assert m.features[0].depends_on == ("F0",)
    assert parse_manifest(b"\xff\xfe garbage").rejected == {"partial_line": 1}
    mid = parse_manifest(b'{"id":"F1","pr_url":"https://github.com/o/r/pull/3"}\n')
    assert mid.pr_urls == ("https://github.com/o/r/pull/3",)


STATUS = st.sampled_from(["pending", "in_progress", "completed", "failed"])


@settings(max_examples=60, deadline=None)
@given(
    histories=st.lists(st.lists(STATUS, min_size=1, max_size=6), min_size=1, max_size=4),
    moved=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_the_read_model_fold_ignores_order_and_duplicates(
    histories: list[list[str]], moved: bool, seed: int
) -> None:
    steps = [snap(1000, None)]
    for i in range(max(len(h) for h in histories)):
        statuses = {f"F{n}": h[min(i, len(h) - 1)] for n, h in enumerate(histories)}
        steps.append(snap(2000 + i * 1000, statuses))
    if moved:
        steps.append(snap(99_000, dict(statuses), COMPLETE))
    facts = derive_all(steps)
    assert len({f.event_id for f in facts}) == len(facts)
    timeline = [Step(f.event_id, f.ts_ms, P, PLAN, f.kind, f.feature_id, f.status, f.pr_url,
                     f.description) for f in facts]  # fmt: skip
    expected = summarise((P, PLAN), timeline)
    rng = random.Random(seed)
    shuffled = timeline + rng.sample(timeline, k=len(timeline) // 2)
    rng.shuffle(shuffled)
    assert summarise((P, PLAN), shuffled) == expected
    for n, h in enumerate(histories):
        feature = expected.features[f"F{n}"]
        last = [s for s in h if s != "pending"]
        assert feature.status == (last[-1] if last else "pending")
    if moved:
        assert expected.status == "completed"
