"""Cooldown with exponential backoff, and the health probe that brings endpoints back.

An endpoint whose attempt failed before the first byte (connect error, timeout) is taken out of
rotation at once; one answering 5xx (not a request fault, see :mod:`faults`) after ``cool_after_5xx``
such answers in a row. It comes back only through a probe (``GET <base_url>/models`` answering 200), never
through a user request: the probe first runs ``cooldown_base`` seconds after the failure, and each
failed probe doubles the wait up to ``cooldown_max``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
from loguru import logger

from hydra_os.inference.endpoint import EndpointInfo
from hydra_os.inference.metrics import GatewayMetrics
from hydra_os.inference.selection import Selector


class Cooldowns:
    def __init__(
        self,
        selector: Selector,
        metrics: GatewayMetrics,
        *,
        base: float,
        cap: float,
        probe_interval: float,
        probe_timeout: float,
        on_change: Callable[[EndpointInfo, bool], None],
    ) -> None:
        self.selector = selector
        self.metrics = metrics
        self.base = base
        self.cap = cap
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self.on_change = on_change  # (endpoint, cooling now) on entering cooldown and on recovery

    def backoff(self, failures: int) -> float:
        return float(min(self.cap, self.base * 2 ** max(0, failures - 1)))

    def fail(self, ep: EndpointInfo, kind: str, detail: str) -> float:
        """Take ``ep`` out of rotation; returns seconds until its first probe."""
        st = self.selector.stats_for(ep.id)
        st.failures += 1
        st.last_error = f"{kind}: {detail}"
        wait = self.backoff(st.failures)
        st.cooldown_until = time.monotonic() + wait
        m = self.metrics.endpoint(ep.id, ep.model)
        if not st.cooling:
            st.cooling = True
            m.cooldowns.inc()
            m.cooling.set(1)
            logger.warning("endpoint {} cooling down {:.1f}s after {}: {}", ep.id, wait, kind, detail)
            self.on_change(ep, True)
        return wait

    def strike(self, ep: EndpointInfo, detail: str, limit: int) -> None:
        """A 5xx that was not the request's fault: the endpoint cools at the ``limit``-th in a row."""
        st = self.selector.stats_for(ep.id)
        st.errors_5xx += 1
        st.last_error = f"http_5xx: {detail}"
        if st.errors_5xx >= limit:
            st.errors_5xx = 0
            self.fail(ep, "http_5xx", f"{detail} ({limit} in a row)")

    def succeed(self, ep: EndpointInfo) -> None:
        st = self.selector.stats_for(ep.id)
        st.failures = 0
        st.errors_5xx = 0

    def recover(self, ep: EndpointInfo) -> None:
        st = self.selector.stats_for(ep.id)
        st.cooling = False
        st.failures = 0
        self.metrics.endpoint(ep.id, ep.model).cooling.set(0)
        logger.info("endpoint {} recovered (health probe ok)", ep.id)
        self.on_change(ep, False)

    async def run(self, session: aiohttp.ClientSession, lookup: Callable[[str], EndpointInfo | None],
                  headers_for: Callable[[EndpointInfo], dict[str, str]]) -> None:
        """Probe due endpoints forever (a task of the gateway)."""
        while True:
            await asyncio.sleep(self.probe_interval)
            now = time.monotonic()
            due = [eid for eid, st in self.selector.stats.items() if st.cooling and st.cooldown_until <= now]
            if due:
                await asyncio.gather(*(self._probe(session, eid, lookup, headers_for) for eid in due))

    async def _probe(self, session: aiohttp.ClientSession, endpoint_id: str,
                     lookup: Callable[[str], EndpointInfo | None],
                     headers_for: Callable[[EndpointInfo], dict[str, str]]) -> None:
        ep = lookup(endpoint_id)
        if ep is None:  # left the registry meanwhile
            self.selector.forget_endpoint(endpoint_id)
            return
        st = self.selector.stats_for(endpoint_id)
        error = ""
        try:
            timeout = aiohttp.ClientTimeout(total=self.probe_timeout)
            async with session.get(ep.base_url + "/models", headers=headers_for(ep), timeout=timeout) as r:
                await r.read()
                if r.status == 200:
                    self.recover(ep)
                    return
                error = f"probe answered HTTP {r.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            error = f"probe failed: {type(e).__name__} {e}".strip()
        st.failures += 1
        st.last_error = error
        wait = self.backoff(st.failures)
        st.cooldown_until = time.monotonic() + wait
        logger.debug("endpoint {} still down ({}); next probe in {:.1f}s", endpoint_id, error, wait)
