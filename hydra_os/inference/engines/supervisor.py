"""One model's engine through its life: starting -> ready -> stopping -> stopped (or failed).

Readiness is polled from the engine's own health/models endpoints until ``start_timeout_s``; an
engine that exits meanwhile fails the start with the tail of its log. Once ready, :meth:`check`
(called by the manager every ``health_interval_s``) notices an exit or a failing health endpoint
and reads the engine's in-flight count.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import httpx
from loguru import logger

from hydra_os.inference.engines.base import Engine, Launch
from hydra_os.inference.engines.errors import EngineStartError
from hydra_os.inference.engines.runner import ProcessRunner, Runner, log_tail
from hydra_os.inference.vram import Placement

State = Literal["starting", "ready", "unhealthy", "stopping", "stopped", "failed"]
POLL_S = 0.1


class ModelRun:
    def __init__(
        self,
        engine: Engine,
        runner: Runner,
        launch: Launch,
        placement: Placement,
        *,
        probe_base: str,
        announce_base: str,
        http: httpx.AsyncClient,
    ) -> None:
        self.engine = engine
        self.runner = runner
        self.launch = launch
        self.placement = placement
        self.probe_base = probe_base
        self.announce_base = announce_base
        self.http = http
        self.state: State = "starting"
        self.started_at = time.time()
        self.ready_at: float | None = None
        self.stopped_at: float | None = None
        self.exit_code: int | None = None
        self.detail = "starting"
        self.error: str | None = None
        self.in_flight: int | None = None
        self._stop_lock = asyncio.Lock()

    @property
    def spec_id(self) -> str:
        return self.launch.spec.id

    @property
    def active(self) -> bool:
        return self.state in ("starting", "ready", "unhealthy")

    def _tail(self) -> str:
        if isinstance(self.runner, ProcessRunner):
            tail = log_tail(self.runner.log_path)
            return f"; last output: {tail}" if tail else ""
        return ""

    async def start(self) -> None:
        """Run the engine and wait until it is ready. Raises :class:`EngineStartError` (engine stopped)."""
        await asyncio.to_thread(self.engine.prepare, self.launch)
        try:
            await self.runner.start()
        except EngineStartError as e:
            self._fail(str(e))
            raise
        deadline = time.monotonic() + self.launch.spec.start_timeout_s
        while True:
            code = await self.runner.exit_code()
            if code is not None:
                self.exit_code = code
                msg = (
                    f"{self.engine.kind} for {self.spec_id!r} exited with code {code} before it was ready; "
                    f"see {self.runner.log_hint}{self._tail()}"
                )
                self._fail(msg)
                raise EngineStartError(msg)
            if self._stop_requested():
                raise EngineStartError(f"start of {self.spec_id!r} was cancelled by a stop")
            probe = await self.engine.probe(self.http, self.probe_base, self.launch)
            self.detail = probe.detail
            if self._stop_requested():
                raise EngineStartError(f"start of {self.spec_id!r} was cancelled by a stop")
            if probe.ready:
                self.state = "ready"
                self.ready_at = time.time()
                logger.info(
                    "model {} ready on {} after {:.1f}s",
                    self.spec_id,
                    self.announce_base,
                    self.ready_at - self.started_at,
                )
                return
            if time.monotonic() > deadline:
                msg = (
                    f"{self.engine.kind} for {self.spec_id!r} was not ready after "
                    f"{self.launch.spec.start_timeout_s:g}s (last check: {probe.detail}); stopped it; "
                    f"see {self.runner.log_hint}{self._tail()}"
                )
                await self.stop()
                self._fail(msg)
                raise EngineStartError(msg)
            await asyncio.sleep(POLL_S)

    def _stop_requested(self) -> bool:
        return self.state == "stopping"

    def _fail(self, msg: str) -> None:
        self.state = "failed"
        self.error = msg
        self.stopped_at = time.time()
        logger.warning("{}", msg)

    async def check(self) -> None:
        """One periodic health check of a ready engine."""
        if self.state not in ("ready", "unhealthy"):
            return
        code = await self.runner.exit_code()
        if code is not None:
            self.exit_code = code
            self._fail(
                f"{self.engine.kind} for {self.spec_id!r} exited unexpectedly with code {code}; "
                f"see {self.runner.log_hint}{self._tail()}"
            )
            return
        probe = await self.engine.probe(self.http, self.probe_base, self.launch)
        load = await self.engine.in_flight(self.http, self.probe_base)
        if self.state not in ("ready", "unhealthy"):
            return  # a stop began while we were asking
        self.detail = probe.detail
        self.in_flight = load
        was = self.state
        self.state = "ready" if probe.ready else "unhealthy"
        if was != self.state:
            logger.warning("model {} is now {} ({})", self.spec_id, self.state, probe.detail)

    def mark_stopping(self) -> None:
        """Flag a stop before it begins (so no health check or start marks it ready meanwhile)."""
        if self.active:
            self.state = "stopping"

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after the grace period (or systemctl stop). Idempotent."""
        async with self._stop_lock:
            if self.state == "stopped" or (self.state == "failed" and self.exit_code is not None):
                return
            failed = self.state == "failed"
            prev = self.state
            self.state = "stopping"
            try:
                code = await self.runner.stop(self.launch.spec.stop_grace_s)
            except EngineStartError:
                self.state = prev
                raise
            self.exit_code = code
            self.stopped_at = time.time()
            self.state = "failed" if failed else "stopped"
            logger.info("model {} stopped (exit {})", self.spec_id, code)

    def status(self) -> dict[str, Any]:
        return {
            "id": self.spec_id,
            "engine": self.engine.kind,
            "state": self.state,
            "detail": self.detail,
            "error": self.error,
            "url": self.announce_base + "/v1",
            "pid": self.runner.pid,
            "log": self.runner.log_hint,
            "gpus": list(self.placement.gpu_indices),
            "vram_per_gpu_mb": self.placement.per_gpu_mb,
            "in_flight": self.in_flight,
            "started_at": self.started_at,
            "ready_at": self.ready_at,
            "exit_code": self.exit_code,
        }
