"""What one attempt at an endpoint reports: in flight, succeeded or failed, how fast it generated.

The proxy reports here for a whole answer, a stream's relay when the stream ends; both update the same
selection statistics (in flight, EWMA time to first token and tokens per second), cooldowns and metrics,
and wake a waiting request when an endpoint frees up. One small object, so the relay needs nothing of
the proxy itself.
"""

from __future__ import annotations

from hydra_os.inference.admission import WaitQueue
from hydra_os.inference.endpoint import EndpointInfo
from hydra_os.inference.errors import UpstreamFailure
from hydra_os.inference.health import Cooldowns
from hydra_os.inference.metrics import EndpointMetrics, GatewayMetrics
from hydra_os.inference.selection import Selector


class Accounting:
    def __init__(self, selector: Selector, cooldowns: Cooldowns, queue: WaitQueue, metrics: GatewayMetrics,
                 *, alpha: float, cool_after_5xx: int) -> None:
        self.selector = selector
        self.cooldowns = cooldowns
        self.queue = queue
        self.metrics = metrics
        self.alpha = alpha  # EWMA weight of the newest sample
        self.cool_after_5xx = cool_after_5xx

    def take(self, ep: EndpointInfo) -> EndpointMetrics:
        """One more request in flight at ``ep``; the metrics to report it on."""
        self.selector.stats_for(ep.id).in_flight += 1
        m = self.metrics.endpoint(ep.id, ep.model)
        m.in_flight.inc()
        return m

    def release(self, ep: EndpointInfo, m: EndpointMetrics) -> None:
        """The request left ``ep`` (answered, failed or abandoned): a waiting request may go."""
        self.selector.stats_for(ep.id).in_flight -= 1
        m.in_flight.dec()
        if len(self.queue):
            self.queue.notify(ep.id)

    def failed(self, ep: EndpointInfo, m: EndpointMetrics, f: UpstreamFailure) -> None:
        m.failed.inc()
        self.metrics.errors.labels(ep.id, ep.model, f.kind).inc()
        if f.cool_down:
            self.cooldowns.fail(ep, f.kind, f.detail)
        elif f.kind == "http_5xx":
            self.cooldowns.strike(ep, f.detail, self.cool_after_5xx)

    def first_byte(self, ep: EndpointInfo, seconds: float) -> None:
        self.selector.stats_for(ep.id).observe_ttft(seconds * 1000, self.alpha)

    def succeeded(self, ep: EndpointInfo, m: EndpointMetrics) -> None:
        m.ok.inc()
        self.cooldowns.succeed(ep)

    def generated(self, ep: EndpointInfo, m: EndpointMetrics, tokens: int, tps: float | None) -> None:
        """``tokens`` output tokens, at ``tps`` tokens per second when it could be measured."""
        m.tokens.inc(tokens)
        if tps is not None:
            st = self.selector.stats_for(ep.id)
            st.observe_tps(tps, self.alpha)
            m.tps.observe(tps)
            m.tps_ewma.set(st.ewma_tps if st.ewma_tps is not None else tps)  # never None after a sample
