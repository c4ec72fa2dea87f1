"""What a metric provider (e.g. the flows subsystem) hands the metric store."""

from __future__ import annotations

from typing import Iterable, NamedTuple, Protocol


class MetricEntry(NamedTuple):
    agent: str
    data_source: str
    name: str
    value: object  # int/float, or str for string metrics
    last_update_ms: int  # ms since this value was last updated (an age, like lastUpdate)
    top_keys: list | None = None  # flow metrics: [{"key", "value", "lastUpdate"}], largest first


class MetricProvider(Protocol):
    def metric_names(self, now: float) -> dict[str, int]:
        """name -> ms since last update, for every metric currently provided."""

    def metric_entries(
        self, agents: set[str] | None, name: str, now: float
    ) -> Iterable[MetricEntry]:
        """Current values of one metric; agents None = every agent."""
