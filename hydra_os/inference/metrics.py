"""Prometheus metrics of the gateway, in a registry the component owns (not the process-global default).

Per endpoint: requests by outcome, errors by kind, time to first token (histogram), output tokens,
output tokens/s (histogram per request and the EWMA gauge), in-flight, cooldowns entered and whether it
is cooling now. Per tier: requests routed. Plus the wait queue's depth and the 429s it answered.
Child metrics are cached per endpoint so the hot path does no label lookups.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_TTFT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_TPS_BUCKETS = (1, 5, 10, 20, 30, 50, 75, 100, 150, 250, 500, 1000, 5000)


@dataclass(slots=True)
class EndpointMetrics:
    ok: Counter
    failed: Counter
    ttft: Histogram
    tokens: Counter
    tps: Histogram
    tps_ewma: Gauge
    in_flight: Gauge
    cooldowns: Counter
    cooling: Gauge


class GatewayMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ep = ["endpoint", "model"]
        self.requests = Counter("hydra_inference_requests", "Requests sent to an endpoint, by outcome.",
                                [*ep, "outcome"], registry=r)
        self.errors = Counter("hydra_inference_errors", "Failed attempts at an endpoint, by kind.",
                              [*ep, "kind"], registry=r)
        self.ttft = Histogram("hydra_inference_ttft_seconds", "Time to the endpoint's first byte/token.",
                              ep, buckets=_TTFT_BUCKETS, registry=r)
        self.tokens = Counter("hydra_inference_output_tokens", "Output tokens produced.", ep, registry=r)
        self.tps = Histogram("hydra_inference_output_tokens_per_second", "Output tokens/s of each request.",
                             ep, buckets=_TPS_BUCKETS, registry=r)
        self.tps_ewma = Gauge("hydra_inference_output_tokens_per_second_ewma", "EWMA of output tokens/s.",
                              ep, registry=r)
        self.in_flight = Gauge("hydra_inference_in_flight", "Requests in flight at an endpoint.", ep, registry=r)
        self.cooldowns = Counter("hydra_inference_cooldowns", "Times an endpoint was put in cooldown.",
                                 ep, registry=r)
        self.cooling = Gauge("hydra_inference_cooling", "1 while an endpoint is cooling down.", ep, registry=r)
        self.routed = Counter("hydra_inference_routed", "Requests routed, by tier.", ["tier"], registry=r)
        self.client_errors = Counter("hydra_inference_rejected", "Requests answered with an error by the gateway.",
                                     ["status"], registry=r)
        self.queue_depth = Gauge("hydra_inference_queue_depth", "Requests waiting for a free endpoint.", registry=r)
        self._eps: dict[str, EndpointMetrics] = {}

    def endpoint(self, endpoint_id: str, model: str) -> EndpointMetrics:
        m = self._eps.get(endpoint_id)
        if m is None:
            lv = (endpoint_id, model)
            m = EndpointMetrics(
                ok=self.requests.labels(*lv, "ok"),
                failed=self.requests.labels(*lv, "error"),
                ttft=self.ttft.labels(*lv),
                tokens=self.tokens.labels(*lv),
                tps=self.tps.labels(*lv),
                tps_ewma=self.tps_ewma.labels(*lv),
                in_flight=self.in_flight.labels(*lv),
                cooldowns=self.cooldowns.labels(*lv),
                cooling=self.cooling.labels(*lv),
            )
            self._eps[endpoint_id] = m
        return m

    def render(self) -> bytes:
        return generate_latest(self.registry)
