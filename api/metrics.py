"""Prometheus metrics at `/metrics`: requests per route, and the event pipeline at scrape time.

gunicorn answers from several worker processes. `upare serve` sets PROMETHEUS_MULTIPROC_DIR
(under the data dir, emptied at start) before the workers import this module, so each worker
writes its request counts and latencies there and any worker sums them all when scraped
(prometheus-client's multiprocess mode). Without it (tests, a single process) the counts are
this process's. The pipeline's gauges are read from the databases at scrape time, so they need
no sharing.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import falcon
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from projections import outbox
from upare.bootstrap import Container
from upare.status import pipeline_status

log = logging.getLogger(__name__)
LABELS = ("route", "method", "error_code")
REQUESTS = Counter("upare_http_requests", "HTTP requests answered", LABELS, registry=None)
LATENCY = Histogram(
    "upare_http_request_duration_seconds",
    "Time to answer an HTTP request, from the first middleware to the last",
    LABELS,
    registry=None,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OPENAPI = {
    "/metrics": {
        "get": {
            "summary": "Answer the Prometheus metrics (text exposition format)",
            "tags": ["operations"],
            "responses": {"200": {"description": CONTENT_TYPE_LATEST}},
        }
    },
}


class RequestMetrics:
    """Count every request and time it, by route template, method and `error_code`.

    The labelled children are kept by their labels: `labels()` validates and looks them up
    under a lock on every call, a good share of a fast request's own time.
    """

    def __init__(self) -> None:
        self.children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def child(self, labels: tuple[str, str, str]) -> tuple[Any, Any]:
        found = self.children.get(labels)
        if found is None:
            found = self.children[labels] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
        return found

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool
    ) -> None:
        started = getattr(req.context, "started", None)
        if started is None:
            return
        media = resp.media if isinstance(resp.media, dict) else {}
        labels = (req.uri_template or "unrouted", req.method, str(media.get("error_code", "-")))
        count, latency = self.child(labels)
        count.inc()
        latency.observe(time.perf_counter() - started)


class PipelineCollector(Collector):
    """Read each projection's generation, watermark, lag and dead letters, and the relay."""

    def __init__(self, container: Container) -> None:
        self.container = container

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("upare_pipeline_up", "1 if the pipeline could be read")
        try:
            status = pipeline_status(
                self.container.log,
                self.container.db,
                self.container.every_projection,
                relay=bool(self.container.settings.kafka_bootstrap),
            )
            deliveries = outbox.counts(self.container.db)
        except Exception as ex:  # a scrape must still answer; the gauge says it failed
            log.warning("reading the pipeline for /metrics failed: %r", ex)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("upare_store_position", "The store's last position", status.head)
        gauges = {
            "generation": ("upare_projection_generation", "The live generation"),
            "watermark": ("upare_projection_watermark", "Every event up to it is applied"),
            "lag_events": ("upare_projection_lag_events", "Store position minus watermark"),
            "lag_seconds": ("upare_projection_lag_seconds", "Age of the oldest unapplied event"),
            "dead_letters": ("upare_projection_dead_letters", "Open dead letters, live generation"),
        }
        for field, (name, documentation) in gauges.items():
            family = GaugeMetricFamily(name, documentation, labels=["projection"])
            for row in status.projections:
                family.add_metric([row.name], getattr(row, field) or 0)
            yield family
        if status.relay_position is not None:
            yield GaugeMetricFamily(
                "upare_relay_position", "Last position published to Kafka", status.relay_position
            )
        family = GaugeMetricFamily("upare_outbox_messages", "Outbox rows", labels=["status"])
        for state in (outbox.PENDING, outbox.SENDING, outbox.SENT, outbox.FAILED):
            family.add_metric([state], deliveries.get(state, 0))
        yield family


class Metrics:
    """Serve the metrics in Prometheus' text format."""

    def __init__(self, container: Container) -> None:
        self.pipeline = PipelineCollector(container)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        registry = CollectorRegistry(auto_describe=False)
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            multiprocess.MultiProcessCollector(registry)
        else:
            registry.register(REQUESTS)
            registry.register(LATENCY)
        registry.register(self.pipeline)
        resp.data = generate_latest(registry)
        resp.content_type = CONTENT_TYPE_LATEST
