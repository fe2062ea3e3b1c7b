"""The usage counters of ``/metrics``: tokens by kind, cost and responses per (account,
machine, [project,] model), read from the read model at every scrape.

A year of history has hundreds to a few thousand label sets, and ``prometheus_client`` spends
~15 µs formatting each sample: several thousand samples would cost a scrape 100 ms or more.
So each label set's sample lines are formatted (by ``prometheus_client``) once per value:
a scrape re-reads every total, then formats only the label sets whose values changed since
the last scrape (a handful while someone works) and reuses the rest's text.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from usagectl.processors.metricsread import Total

TOKEN_KINDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
FAMILIES = (
    ("usagectl_tokens", "Tokens of counted responses, by kind"),
    ("usagectl_cost_usd", "Cost of counted responses in USD (cost mode auto)"),
    ("usagectl_responses", "Counted responses"),
)

Key = tuple[str, ...]
Values = tuple[int, ...]  # the token kinds, cost in nano-dollars, responses


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def _text(families: list[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return bytes(generate_latest(registry))


def _families(labels: list[str]) -> list[CounterMetricFamily]:
    tokens = CounterMetricFamily(*FAMILIES[0], labels=[*labels, "kind"])
    return [tokens, *(CounterMetricFamily(n, h, labels=labels) for n, h in FAMILIES[1:])]


def _samples(label_names: list[str], key: Key, values: Values) -> list[bytes]:
    """One label set's sample lines, per family, formatted by prometheus_client."""
    out = []
    for i, family in enumerate(_families(label_names)):
        if i == 0:
            for kind, n in zip(TOKEN_KINDS, values, strict=False):
                family.add_metric([*key, kind], n)
        else:
            family.add_metric(list(key), values[4 + i] / 1e9 if i == 1 else values[4 + i])
        text = _text([family])
        out.append(b"".join(line + b"\n" for line in text.splitlines() if line[:1] != b"#"))
    return out


def merge(totals: list[Total], project_label: bool) -> dict[Key, Values]:
    """Totals by label set (rows that differ only by project merge when it is left out)."""
    merged: dict[Key, list[int]] = {}
    for t in totals:
        key = (t.account, t.machine, *([t.project] if project_label else []), t.model)
        row = merged.setdefault(key, [0] * (len(TOKEN_KINDS) + 2))
        for i, kind in enumerate(TOKEN_KINDS):
            row[i] += t.sums[kind]
        row[-2] += t.sums["cost_auto"]
        row[-1] += t.sums["entries"]
    return {k: tuple(v) for k, v in merged.items()}


class CounterText:
    """Formatted sample lines per label set, kept between scrapes while their values hold."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.project_label: bool | None = None
        self.lines: dict[Key, tuple[Values, list[bytes]]] = {}
        self.heads: list[bytes] = []

    def render(self, totals: list[Total], project_label: bool) -> bytes:
        labels = ["account", "machine", *(["project"] if project_label else []), "model"]
        rows = merge(totals, project_label)
        with self.lock:
            if project_label != self.project_label:
                self.project_label, self.lines = project_label, {}
                self.heads = [_text([f]) for f in _families(labels)]
            lines = {}
            for key in sorted(rows):
                values = rows[key]
                known = self.lines.get(key)
                if known is None or known[0] != values:
                    known = (values, _samples(labels, key, values))
                lines[key] = known
            self.lines = lines  # label sets gone from the read model go from the cache
            parts = [
                self.heads[i] + b"".join(text[i] for _, text in lines.values())
                for i in range(len(FAMILIES))
            ]
        return b"".join(parts)
