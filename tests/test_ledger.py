"""The dedup rule as a pure fold: winners, sidechain replays, and order independence."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st
from usagectl.projections.events import Source, Usage
from usagectl.projections.ledger import Change, Entry, counted, fold, group_id, to_entry
from usagectl.projections.rollups import rollup_deltas

T0 = datetime(2026, 9, 1, 12, tzinfo=UTC)
# (message.id, requestId, output tokens, sidechain, minutes after T0): one copy of a response
Copy = tuple[str | None, str | None, int, bool, int]


def usage(
    event_id: str,
    mid: str | None = "msg_1",
    rid: str | None = "req_1",
    output: int = 10,
    sidechain: bool = False,
    minutes: int = 0,
    speed: str | None = None,
    path: str = "/r/projects/p/s.jsonl",
) -> Usage:
    return Usage(
        event_id=event_id, ts=T0 + timedelta(minutes=minutes), machine="m", account="a",
        project="/p", project_dir="-p", session_id="s", source=Source(path, int(event_id[-1], 36)),
        message_id=mid, request_id=rid, is_sidechain=sidechain, model="claude-sonnet-4-5",
        input=5, output=output, cache_read=100, speed=speed,
    )  # fmt: skip


def run(entries: list[Entry], batches: int = 1) -> dict[str, dict[str, Entry]]:
    state: dict[str, dict[str, Entry]] = {}
    size = max(1, len(entries) // batches)
    for i in range(0, len(entries), size):
        part = entries[i : i + size]
        touched = {group_id(e) for e in part}
        changed, _ = fold({g: state[g] for g in touched if g in state}, part)
        state.update(changed)
    return state


def counted_ids(state: dict[str, dict[str, Entry]]) -> set[str]:
    return {e.event_id for group in state.values() for e in counted(group).values()}


def test_streamed_copies_keep_the_largest() -> None:
    state = run([to_entry(usage("e1", output=1)), to_entry(usage("e2", output=400))])
    assert counted_ids(state) == {"e2"}


def test_non_sidechain_copy_beats_a_larger_sidechain_copy() -> None:
    state = run([to_entry(usage("e1", output=10)), to_entry(usage("e2", 2 * "x", output=99))])
    assert len(counted_ids(state)) == 2
    state = run([to_entry(usage("e1", sidechain=True, output=99)), to_entry(usage("e2"))])
    assert counted_ids(state) == {"e2"}


def test_sidechain_replay_under_new_request_id_does_not_count_in_any_order() -> None:
    parent = to_entry(usage("e1"))
    replay = to_entry(usage("e2", rid="req_2", sidechain=True, output=50))
    for order in ([parent, replay], [replay, parent]):
        assert counted_ids(run(order, batches=2)) == {"e1"}


def test_lines_without_message_id_are_never_merged() -> None:
    state = run([to_entry(usage("e1", mid=None)), to_entry(usage("e2", mid=None))])
    assert counted_ids(state) == {"e1", "e2"}


def test_missing_request_id_still_dedups_on_message_id() -> None:
    state = run([to_entry(usage("e1", rid=None)), to_entry(usage("e2", rid=None))])
    assert len(counted_ids(state)) == 1


def test_speed_breaks_a_tie() -> None:
    state = run([to_entry(usage("e1")), to_entry(usage("e2", speed="standard"))])
    assert counted_ids(state) == {"e2"}


def test_replacement_undoes_the_old_contribution() -> None:
    first = to_entry(usage("e1", output=1))
    _, changes = fold({}, [first])
    changed, more = fold({"msg_1": {first.key: first}}, [to_entry(usage("e2", output=400))])
    assert more == [Change(first, changed["msg_1"][first.key])]
    sums: Counter[tuple[object, ...]] = Counter()
    for key, d in (*rollup_deltas(changes).items(), *rollup_deltas(more).items()):
        sums[key] += d[2]  # output tokens
    assert list(sums.values()) == [400]


copies = st.lists(
    st.tuples(
        st.sampled_from(["msg_a", "msg_b", "msg_c", None]),
        st.sampled_from(["req_1", "req_2", None]),
        st.integers(0, 500),
        st.booleans(),
        st.integers(0, 600),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(copies, st.randoms(use_true_random=False), st.integers(1, 6))
def test_any_order_any_duplicates_same_result(spec: list[Copy], rnd: Random, batches: int) -> None:
    entries = [
        to_entry(usage(f"e{i:02d}{i % 36:x}", mid, rid, out, side, mins))
        for i, (mid, rid, out, side, mins) in enumerate(spec)
    ]
    baseline = run(entries)
    shuffled = entries + rnd.sample(entries, k=len(entries) // 2)
    rnd.shuffle(shuffled)
    again = run(shuffled, batches)
    assert {g: counted(m) for g, m in again.items()} == {g: counted(m) for g, m in baseline.items()}


@settings(max_examples=100, deadline=None)
@given(copies, st.randoms(use_true_random=False))
def test_rollups_of_incremental_changes_equal_a_clean_fold(spec: list[Copy], rnd: Random) -> None:
    entries = [
        to_entry(usage(f"e{i:02d}{i % 36:x}", mid, rid, out, side, mins))
        for i, (mid, rid, out, side, mins) in enumerate(spec)
    ]
    clean: Counter[tuple[object, ...]] = Counter()
    _, changes = fold({}, entries)
    for key, d in rollup_deltas(changes).items():
        clean[(*key, "out")] += d[2]
        clean[(*key, "n")] += d[0]
    state: dict[str, dict[str, Entry]] = {}
    incremental: Counter[tuple[object, ...]] = Counter()
    order = entries[:]
    rnd.shuffle(order)
    for entry in order:
        g = group_id(entry)
        changed, ch = fold({g: state[g]} if g in state else {}, [entry])
        state.update(changed)
        for key, d in rollup_deltas(ch).items():
            incremental[(*key, "out")] += d[2]
            incremental[(*key, "n")] += d[0]
    assert +incremental == +clean
