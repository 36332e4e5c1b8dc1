"""The healing component every node runs: supervisor + healer + notifier, node RPC verbs and an API router.

Built in :mod:`hydra_os.wiring` after the policy service (it needs ``policy.gate``). RPC verbs on
``hydra.node.<id>.rpc.*``: ``heal.incidents`` (``{"all": bool}``), ``heal.run`` (one round now,
``{"checks": [...]}`` optional), ``heal.children``, ``heal.restart`` (``{"name": ...}``, through
the gate like any repair), ``heal.uptime`` (availability per watched target), ``heal.nixos`` (failed
revisions and automatic rollbacks). HTTP (bearer token): ``GET /v1/healing/incidents``, ``GET
/v1/healing/children``, ``GET /v1/healing/uptime``, ``POST /v1/healing/run``.

The embedded nats-server is started by the daemon; :meth:`HealingService.adopt_embedded_bus`
lets the supervisor watch it (call it after ``EmbeddedNats.start()``, before ``start()``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.component import NodeContext
from hydra_os.healing.context import HealingContext
from hydra_os.healing.errors import CheckRequestError
from hydra_os.healing.gpu_health import GpuHealthProbe
from hydra_os.healing.healer import Healer
from hydra_os.healing.incidents import IncidentStore
from hydra_os.healing.registry import discover_checks, discover_fixups
from hydra_os.healing.requests import IncidentsQuery, RestartChild, RunChecks, bad_request, bad_restart
from hydra_os.healing.supervisor import ChildProcess, EmbeddedBusChild, ProcessSupervisor
from hydra_os.healing.sweep import register as register_sweep
from hydra_os.healing.uptime import UptimeLog
from hydra_os.healing.watch import ModelsView, default_disks
from hydra_os.lifecycle import ComponentState, Lifecycle, RpcHandler
from hydra_os.nixos.ledger import FailedRevisions, Rollbacks
from hydra_os.node.rpc_params import typed
from hydra_os.notify import build_notifier
from hydra_os.policy.model import Gate
from hydra_os.tasks.registry import KindSpec, specs_of


class HealingService(Lifecycle):
    name = "healing"

    def __init__(self, ctx: NodeContext, gate: Gate) -> None:
        cfg = ctx.settings.healing
        self.config = cfg
        self.supervisor = ProcessSupervisor(
            watch_interval=cfg.watch_interval_s, probe_interval=cfg.probe_interval_s,
            probe_failures=cfg.probe_failures,
        )
        for spec in cfg.children:
            self.supervisor.add(ChildProcess(spec, ctx.state_dir / "children"))
        self.gpu = GpuHealthProbe()
        model_dirs = [m.path for m in ctx.settings.models.entries if m.path is not None]
        self.context = HealingContext(cfg, ctx.node_id, ctx.state_dir, bus=ctx.bus, supervisor=self.supervisor,
                                      gpu=self.gpu, peers=ctx.membership,
                                      disks=default_disks(cfg, ctx.state_dir, model_dirs),
                                      scheduler_store=ctx.state_dir / ctx.settings.tasks.scheduler.job_store)
        self.notifier = build_notifier(ctx.settings.notify, ctx.state_dir)
        self.healer = Healer(
            self.context, gate, IncidentStore(ctx.state_dir / "healing" / "incidents.json", keep=cfg.incidents_kept),
            self.notifier, discover_checks(), discover_fixups(), events=ctx.events,
            uptime=UptimeLog(ctx.state_dir / "healing" / "uptime.json"),
        )
        self.healer.register()
        self._started = False
        self._auth = ctx.auth
        # the scheduler's health loop: every live node runs its checks once (health.sweep)
        self._sweep = partial(register_sweep, bus=ctx.bus, gone_after=ctx.settings.membership.gone_after,
                              kind=ctx.settings.tasks.scheduler.health_kind)

    def routes(self) -> Sequence[APIRouter]:
        return [] if self._auth is None else [self.router(self._auth)]

    def rpc_handlers(self) -> Mapping[str, RpcHandler]:
        return {"heal.incidents": typed(IncidentsQuery, self._rpc_incidents, bad_request),
                "heal.run": typed(RunChecks, self._rpc_run, bad_request),
                "heal.children": self._rpc_children,
                "heal.restart": typed(RestartChild, self._rpc_restart, bad_restart),
                "heal.uptime": self._rpc_uptime, "heal.nixos": self._rpc_nixos}

    def task_kinds(self) -> Sequence[KindSpec]:
        return specs_of(self._sweep)

    def adopt_embedded_bus(self, server: EmbeddedNats) -> None:
        """Watch the daemon's embedded nats-server (the daemon still starts and stops it)."""
        self.supervisor.add(EmbeddedBusChild(server), owned=False)

    def watch_models(self, models: ModelsView) -> None:
        """Watch every engine the node's model manager runs (the ``model_engine`` check)."""
        self.context.models = models
        models.failure_listeners.append(lambda _model: self.healer.poke_check("model_engine"))

    async def _start(self) -> None:
        if not self.config.enabled:
            self.set_state(ComponentState.STOPPED, "disabled in config (healing.enabled = false)")
            return
        if self._started:
            return
        self._started = True
        await self.supervisor.start()
        await self.healer.start()

    async def _stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.healer.stop()
        await self.supervisor.stop()
        self.gpu.close()

    def _details(self) -> dict[str, Any]:
        return {"enabled": self.config.enabled, **self.healer.status(),
                "children": [s.model_dump() for s in self.supervisor.states()]}

    # ---- RPC / API ---------------------------------------------------------------------------
    def incidents(self, include_resolved: bool) -> list[dict[str, Any]]:
        items = self.healer.incidents.all() if include_resolved else self.healer.incidents.open_incidents()
        return [i.model_dump(mode="json") for i in items]

    async def _rpc_incidents(self, req: IncidentsQuery) -> dict[str, Any]:
        return {"incidents": self.incidents(req.all)}

    async def _rpc_run(self, req: RunChecks) -> dict[str, Any]:
        checks = req.checks
        known = {c.name for c in self.healer.checks}
        unknown = sorted(set(checks or []) - known)
        if unknown:
            raise CheckRequestError(f"checks: unknown check {unknown[0]!r}; known: {', '.join(sorted(known))}")
        touched = await self.healer.run_once(set(checks) if checks else None)
        return {"incidents": [i.model_dump(mode="json") for i in touched], "round": self.healer.last_round}

    def uptime(self) -> list[dict[str, Any]]:
        log = self.healer.uptime
        return [] if log is None else [a.model_dump() for a in log.availability(time.time())]

    async def _rpc_uptime(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"node": self.context.node_id, "services": self.uptime()}

    def nixos_record(self) -> dict[str, Any]:
        """Revisions that failed their gate and automatic rollbacks on this node (for the briefing)."""
        d = self.context.state_dir / "nixos"
        return {"node": self.context.node_id,
                "failed_revisions": [f.model_dump() for f in FailedRevisions(d / "failed-revisions.json").all()],
                "rollbacks": [r.model_dump() for r in Rollbacks(d / "rollbacks.json").all()]}

    async def _rpc_nixos(self, _: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self.nixos_record)

    async def _rpc_children(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"children": [s.model_dump() for s in self.supervisor.states()]}

    async def _rpc_restart(self, req: RestartChild) -> dict[str, Any]:
        out = await self.healer.restart_child(self.supervisor.state(req.name))
        return {"outcome": out.model_dump(mode="json")}

    def router(self, auth: Any) -> APIRouter:
        r = APIRouter(prefix="/v1/healing", tags=["healing"], dependencies=[Depends(auth)])

        @r.get("/incidents")
        async def incidents(q: Annotated[IncidentsQuery, Query()]) -> list[dict[str, Any]]:
            return self.incidents(q.all)

        @r.get("/uptime")
        async def uptime() -> list[dict[str, Any]]:
            return self.uptime()

        @r.get("/children")
        async def children() -> list[dict[str, Any]]:
            return [s.model_dump() for s in self.supervisor.states()]

        @r.post("/run")
        async def run(req: RunChecks | None = None) -> dict[str, Any]:
            return await self._rpc_run(req or RunChecks())

        return r
