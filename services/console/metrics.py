"""The console's own metrics, in the process's one registry beside the shared ones."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from services.common.metrics import REGISTRY

HTTP_REQUESTS = Counter(
    "linli_console_http_requests_total",
    "HTTP requests answered by the console, by route and status code.",
    ["method", "route", "code"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "linli_console_http_request_seconds",
    "Seconds to answer an HTTP request, by route.",
    ["route"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 150),
    registry=REGISTRY,
)
