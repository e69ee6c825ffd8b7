"""Server-side figures for a bench: each server's ``/metrics`` and ``/proc`` counters.

The bench reads request durations, delivery lag, the pool, resets and open websockets from
the same Prometheus series an operator watches (docs/operations.md, Monitoring), so its
figures and a dashboard's agree; quantiles are interpolated inside the histogram buckets as
Prometheus' ``histogram_quantile`` does.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench import common

# -- server-side figures: /metrics and /proc -------------------------------------------------


Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: httpx.AsyncClient, server: common.Server) -> Scrape:
    """Every sample of one server's ``/metrics``, keyed by (name, sorted labels)."""
    answer = await http.get(f"{server.base_url}/metrics")
    answer.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def metric_sum(scrapes: Sequence[Scrape], name: str, **labels: str) -> float:
    return sum(
        value
        for scraped in scrapes
        for (sample, keys), value in scraped.items()
        if sample == name and all(dict(keys).get(k, "") == v for k, v in labels.items())
    )


def _buckets(scrapes: Sequence[Scrape], name: str, match: dict[str, str]) -> dict[float, float]:
    """Cumulative bucket counts (``le`` -> count), summed over servers and matching series."""
    out: dict[float, float] = {}
    for scraped in scrapes:
        for (sample, keys), value in scraped.items():
            labels = dict(keys)
            if sample != f"{name}_bucket":
                continue
            if not all(v in labels.get(k, "") for k, v in match.items()):
                continue
            le = float(labels["le"])
            out[le] = out.get(le, 0.0) + value
    return out


def histogram_quantile(
    q: float, before: Sequence[Scrape], after: Sequence[Scrape], name: str, **match: str
) -> float:
    """Prometheus' ``histogram_quantile`` over the counts added between two scrapes, in ms."""
    start, end = _buckets(before, name, match), _buckets(after, name, match)
    edges = sorted(end)
    counts = [end[le] - start.get(le, 0.0) for le in edges]
    if not counts or counts[-1] <= 0:
        return math.nan
    rank = q * counts[-1]
    lower_edge, lower_count = 0.0, 0.0
    for le, count in zip(edges, counts, strict=True):
        if count >= rank:
            if math.isinf(le):
                return 1000 * lower_edge
            inside = count - lower_count
            share = (rank - lower_count) / inside if inside else 0.0
            return 1000 * (lower_edge + (le - lower_edge) * share)
        lower_edge, lower_count = le, count
    return math.nan


def postgres_cpu_seconds(database: str) -> float:
    """CPU time of the PostgreSQL backends serving ``database`` (from ``/proc``)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            if f" {database} " not in (entry / "cmdline").read_bytes().decode(errors="replace"):
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / common.CLOCK_TICKS
    return total


def open_fds(server: common.Server) -> int:
    return len(os.listdir(f"/proc/{server.pid}/fd"))


@dataclass
class Probe:
    """Server-side state at one instant: /metrics of both servers and /proc counters."""

    at: float
    scrapes: list[Scrape]
    cpu: list[float]
    rss_mib: list[float]
    fds: list[int]
    postgres: float

    @classmethod
    async def take(
        cls, http: httpx.AsyncClient, servers: Sequence[common.Server], database: str
    ) -> Probe:
        scrapes = list(await asyncio.gather(*(scrape(http, s) for s in servers)))
        return cls(
            time.monotonic(),
            scrapes,
            [s.cpu_seconds() for s in servers],
            [round(s.rss_kib() / 1024, 1) for s in servers],
            [open_fds(s) for s in servers],
            postgres_cpu_seconds(database),
        )
