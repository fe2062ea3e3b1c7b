"""Behaviour kept across restructuring: every report's `--json`, every `/api/...` answer and
`watch --json`'s first frame are byte for byte what tests/golden.py recorded (after masking the
values that move with the clock or the run, listed in golden.MASKED)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from golden import GOLDEN, build, masked, record


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, bytes]]:
    env, hub = build(tmp_path_factory.mktemp("golden"))
    try:
        yield record(env)
    finally:
        hub.kill()


def _names() -> list[str]:
    return sorted(p.stem for p in GOLDEN.glob("*.out"))


def test_every_golden_output_is_still_produced(outputs: dict[str, bytes]) -> None:
    assert sorted(outputs) == _names()


@pytest.mark.parametrize("name", _names())
def test_output_is_byte_for_byte_the_recorded_one(outputs: dict[str, bytes], name: str) -> None:
    recorded = (Path(GOLDEN) / f"{name}.out").read_bytes()
    assert masked(outputs[name]) == masked(recorded)
