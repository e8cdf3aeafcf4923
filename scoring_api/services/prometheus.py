"""Prometheus metrics of one API process (each uvicorn worker exposes its own)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ApiMetrics:
    """A registry per app, so several apps in one process (tests) never clash."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "credit_api_scoring_latency_seconds",
            "Time to score and durably log, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # Children bound once: `labels()` is a locked dictionary look-up per call.
        self.score_latency = self.latency.labels(endpoint="score")
        self.batch_latency = self.latency.labels(endpoint="batch")
        self.decisions = Counter(
            "credit_api_decisions_total",
            "Decisions returned, by risk band (`not_scorable` for thin files).",
            ["band"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "credit_api_model_info",
            "The model version serving decisions (value 1).",
            ["version"],
            registry=self.registry,
        )
        self.model_refusals = Counter(
            "credit_api_model_refusals_total",
            "Champion models refused at load (checksum or format).",
            registry=self.registry,
        )
        self.log_commits = Gauge(
            "credit_api_decision_log_commits",
            "Transactions the decision log writer committed (decisions / commits = group size).",
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "credit_api_rate_limited_total", "Requests refused with 429.", registry=self.registry
        )
        self._decided: dict[str, Counter] = {}

    def serving(self, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(version=version).set(1)

    def decided(self, band: str | None) -> None:
        key = band or "not_scorable"
        child = self._decided.get(key)
        if child is None:
            child = self._decided[key] = self.decisions.labels(band=key)
        child.inc()
