"""Several servers' ``/metrics`` pages as one: every sample labelled with the server it came from.

Why label rather than add: counters and histograms could be summed, but gauges (queue depth, RSS) and the
process's own series cannot, and Prometheus sums over a label in one query (``sum without (replica)``). The
pages are parsed and written back by prometheus-client itself, so the result is the text format a scraper
expects, with one HELP and TYPE per family.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families


class _Pages:
    """A collector that yields the parsed families of ``pages`` (source name -> text), merged by family."""

    def __init__(self, pages: Mapping[str, str], label: str) -> None:
        self.pages, self.label = pages, label

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for source, page in sorted(self.pages.items()):
            for family in text_string_to_metric_families(page):
                merged = families.setdefault(family.name, Metric(family.name, family.documentation, family.type,
                                                                 family.unit))
                for sample in family.samples:
                    merged.add_sample(sample.name, {**sample.labels, self.label: source}, sample.value,
                                      sample.timestamp, sample.exemplar)
        yield from families.values()


def merge_labelled(pages: Mapping[str, str], label: str) -> bytes:
    """One text-format page holding every sample of ``pages``, each with ``label=<its source>``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Pages(pages, label))
    return generate_latest(registry)
