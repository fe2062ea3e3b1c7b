"""Behaviour kept across restructuring: every report's `--json`, every `/api/...` answer and
`watch --json`'s first frame are byte for byte what tests/golden.py recorded (after masking the
values that move with the clock or the run, listed in golden.MASKED). One test, so the world is
built once."""

from __future__ import annotations

from pathlib import Path

from golden import GOLDEN, build, masked, record


def test_every_output_is_byte_for_byte_the_recorded_one(tmp_path: Path) -> None:
    env, hub = build(tmp_path)
    try:
        outputs = record(env)
    finally:
        hub.kill()
    recorded = {p.stem: p.read_bytes() for p in GOLDEN.glob("*.out")}
    assert sorted(outputs) == sorted(recorded)
    changed = [n for n in sorted(recorded) if masked(outputs[n]) != masked(recorded[n])]
    for name in changed:
        (tmp_path / f"{name}.now").write_bytes(outputs[name])
    assert not changed, f"changed: {changed} (new outputs in {tmp_path})"
