"""Logs and metrics shared by the API and the worker: JSON log lines with the request id, Prometheus metrics.

Logs: one JSON object a line on standard error (``time``, ``level``, ``logger``,
``message``, and ``request_id`` while a request is served). Messages name
routes, error types, positions and counts, never a person: ids in paths are
not logged (the route's template is), and neither are bodies or query strings.

Metrics live in prometheus_client's default registry of the process. When the
API runs several uvicorn workers, ``peoplelinks api`` points
``PROMETHEUS_MULTIPROC_DIR`` at a folder of its own before the workers start,
and a scrape of any worker adds up the counters and histograms of all of them
(prometheus_client's multiprocess mode). Projection lag is not a counter of
any process: it is read from PostgreSQL at each scrape (``LagCollector``).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

import msgspec
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

REQUEST_ID: Final[contextvars.ContextVar[str | None]] = contextvars.ContextVar("request_id", default=None)
"""The id of the request being served (also in its ``X-Request-ID`` answer header), for log lines."""

HTTP_REQUEST_SECONDS: Final = Histogram(
    "peoplelinks_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template (never the raw path)",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
EVENTS_APPENDED: Final = Counter(
    "peoplelinks_events_appended",
    "Events appended to the store by this process (replays of stored events not counted)",
)
WORKER_JOBS: Final = Counter(
    "peoplelinks_worker_jobs",
    "Worker jobs run, by job and outcome (succeeded, failed)",
    ["job", "outcome"],
)


# -- Logs ----------------------------------------------------------------------


class _LogLine(msgspec.Struct, omit_defaults=True):
    time: str
    level: str
    logger: str
    message: str
    request_id: str | None = None
    error: str | None = None


class JsonFormatter(logging.Formatter):
    """One JSON object a line; an exception adds its type only (a traceback's values may hold personal data)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line = _LogLine(
            time=dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            level=record.levelname.lower(),
            logger=record.name,
            message=record.getMessage(),
            request_id=REQUEST_ID.get(),
            error=record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else None,
        )
        return msgspec.json.encode(line).decode()


def configure_logging(log_format: str, level: str) -> None:
    """Send every log record of the process to standard error, as JSON lines (``json``) or plain text (``text``)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries log as they please; they propagate to the root handler above instead.
    for name in ("uvicorn", "uvicorn.error", "arq", "arq.worker", "arq.jobs"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # Except uvicorn's access log, which would log each raw path (its ids) and query string: RequestCycle logs
    # the route template instead. uvicorn logs access whenever this logger has a handler, up to the root's, whatever
    # its access_log option said when it configured logging before this ran (services.api.asgi.build runs after).
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False


# -- Metrics -------------------------------------------------------------------


class LagCollector(Collector):
    """Each projection's lag behind the store's head, and the head, as read for one scrape."""

    def __init__(self, head: int, lags: Sequence[tuple[str, int]]) -> None:
        self._head = head
        self._lags = lags

    def collect(self) -> Iterator[Metric]:
        """The gauges."""
        head = GaugeMetricFamily("peoplelinks_store_head_position", "The store's highest global position")
        head.add_metric([], self._head)
        yield head
        lag = GaugeMetricFamily(
            "peoplelinks_projection_lag_events",
            "Events stored beyond each projection's checkpoint (counted up to 1,000,000)",
            labels=["name"],
        )
        for name, behind in self._lags:
            lag.add_metric([name], behind)
        yield lag


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """The text exposition of this process's metrics (all processes' in multiprocess mode), plus ``extra``."""
    registry: CollectorRegistry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_Everything())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


class _Everything(Collector):
    """The default registry's metrics, so that one scrape can add ``extra`` collectors beside them."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
