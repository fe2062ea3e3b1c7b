"""Resilience with real processes: the hub goes away while transcripts keep growing."""

from __future__ import annotations

from pathlib import Path

from resilience import hub_outage


def test_hub_outage_while_transcripts_grow_loses_and_doubles_nothing(tmp_path: Path) -> None:
    result = hub_outage(tmp_path, outage_s=20)
    assert result["final"] == result["expected"]  # nothing lost, nothing doubled
    assert result["daily"] == result["expected"]
    assert result["files_written"] > 0
