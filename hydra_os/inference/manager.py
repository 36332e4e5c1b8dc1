"""ModelManager: the ``gpu`` role's component that runs model engines within free VRAM.

It knows the models declared in ``[models]`` (plus ``<state_dir>/models.toml``), places each start
on GPUs with :mod:`hydra_os.inference.vram` from NVML figures, runs the engine (child process or
systemd unit) through :class:`~hydra_os.inference.engines.supervisor.ModelRun`, announces the
endpoint in ``hydra_models`` once the engine is ready and withdraws it when it stops or dies.
A start that cannot fit is refused with needed-vs-free per GPU; with ``evict`` it stops idle models
(oldest first) to make room, never one with requests in flight or whose load it cannot read.

Its own decisions go through the policy gate (:mod:`hydra_os.inference.manager_policy`): each
eviction is a ``model.unload`` action, and an engine that dies while serving is brought back by
``engine.restart`` actions, paced and capped by the gate's guards. Without a gate it takes neither
(evictions are refused, crashed engines stay down). The owner's ``start``/``stop`` run directly and
are recorded as events.

Node RPC verbs: ``models.list``, ``models.status``, ``models.start``, ``models.stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
from loguru import logger
from pydantic import BaseModel, ConfigDict, ValidationError

from hydra_os.events import EventLog
from hydra_os.inference.endpoint import EndpointInfo, endpoint_key
from hydra_os.inference.engines import engine_for
from hydra_os.inference.engines.base import Launch
from hydra_os.inference.engines.errors import (
    EngineStartError,
    ModelBusyError,
    ModelError,
    PlacementError,
    UnknownModelError,
)
from hydra_os.inference.engines.ollama import Announcer, OllamaDiscovery
from hydra_os.inference.engines.runner import ProcessRunner, Runner, SystemdRunner
from hydra_os.inference.engines.supervisor import ModelRun
from hydra_os.inference.manager_policy import ModelActions, refusal
from hydra_os.inference.vram import Placement, Resident, plan, plan_with_eviction
from hydra_os.lifecycle import Background, Lifecycle, RpcHandler
from hydra_os.node.gpu import GpuInfo
from hydra_os.policy.model import Action, Gate, OutcomeStatus
from hydra_os.sections.models import STATE_MODELS_FILE, ModelsConfig, ModelSpec, load_state_models

GpuReader = Callable[[], list[GpuInfo]]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartParams(_Params):
    id: str
    evict: bool = False
    wait: bool = False


class StopParams(_Params):
    id: str
    force: bool = False


class StatusParams(_Params):
    id: str | None = None


def _params(cls: type[_Params], raw: dict[str, Any], verb: str) -> Any:
    try:
        return cls.model_validate(raw)
    except ValidationError as e:
        parts = [f"field {'.'.join(str(p) for p in err['loc']) or '(body)'!r}: {err['msg']}" for err in e.errors()]
        raise ModelError(f"{verb}: {'; '.join(parts)}") from None


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


class ModelManager(Lifecycle):
    name = "models"

    def __init__(
        self,
        config: ModelsConfig,
        *,
        node_id: str,
        state_dir: Path,
        gpu_reader: GpuReader,
        registry: Announcer | None = None,
        events: EventLog | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.config = config
        self.node_id = node_id
        self.state_dir = state_dir
        self.gpu_reader = gpu_reader
        self.registry = registry
        self.events = events
        self.specs: dict[str, ModelSpec] = {}
        if config.state_file:
            self.specs.update({m.id: m for m in load_state_models(state_dir / STATE_MODELS_FILE)})
        self.specs.update({m.id: m for m in config.entries})  # the main config wins
        self.runs: dict[str, ModelRun] = {}
        self._bringups: dict[str, asyncio.Task[None]] = {}
        self._bringup_tasks = Background("models-start")
        self._lock = asyncio.Lock()
        self._http: httpx.AsyncClient | None = None
        self._ollama: list[OllamaDiscovery] = []
        self._stopped = False
        self.actions = ModelActions(gate, node_id, self._event) if gate is not None else None
        self.failure_listeners: list[Callable[[str], None]] = []
        self.started = asyncio.Event()  # approved unloads/restarts wait for it (see Gate.register_executor)
        if self.actions is not None:
            self.actions.register(self._exec_unload, self._exec_restart, ready=self.started)

    # ---- lifecycle ---------------------------------------------------------------------
    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=1.0), trust_env=False)
        return self._http

    def rpc_handlers(self) -> Mapping[str, RpcHandler]:
        return {"models.list": self._rpc_list, "models.status": self._rpc_status,
                "models.start": self._rpc_start, "models.stop": self._rpc_stop}

    async def _start(self) -> None:
        self._stopped = False
        self._ollama = [
            OllamaDiscovery(src, i, self.node_id, self.registry, self.http)
            for i, src in enumerate(self.config.ollama)
        ]
        for d in self._ollama:
            await d.start()
        self.background.spawn(self._monitor_loop(), "monitor")
        for spec in self.specs.values():
            if spec.autostart:
                try:
                    await self.start_model(spec.id)
                except ModelError as e:
                    logger.error("autostart of {} refused: {}", spec.id, e)
        self.started.set()

    async def _stop(self) -> None:
        """Stop every engine this manager runs and withdraw its endpoints. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.started.clear()
        if self.actions is not None:
            await self.actions.close()
        await self.background.close()  # the monitor: it must not restart what is being stopped
        for d in self._ollama:
            await d.stop()
        await asyncio.gather(
            *(self._stop_run(r, "node stopping") for r in list(self.runs.values())), return_exceptions=True
        )
        await self._bringup_tasks.close()
        self._bringups.clear()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _details(self) -> dict[str, Any]:
        return {
            "declared": sorted(self.specs),
            "running": {i: r.state for i, r in self.runs.items() if r.state != "stopped"},
            "ollama": [d.status() for d in self._ollama],
        }

    # ---- operations --------------------------------------------------------------------
    def spec(self, model_id: str) -> ModelSpec:
        spec = self.specs.get(model_id)
        if spec is None:
            known = ", ".join(sorted(self.specs)) or "none"
            raise UnknownModelError(
                f"no model {model_id!r} is declared on node {self.node_id} (declared: {known})"
            )
        return spec

    async def _residents(self) -> list[Resident]:
        out = []
        for r in self.runs.values():
            if r.active and r.placement.gpu_indices:
                load = await r.engine.in_flight(self.http, r.probe_base) if r.state != "starting" else None
                out.append(
                    Resident(r.spec_id, r.placement.gpu_indices, r.placement.per_gpu_mb, load, r.started_at)
                )
        return out

    async def start_model(self, model_id: str, *, evict: bool = False, wait: bool = False) -> dict[str, Any]:
        """Place and start a model; returns its status at once (``starting``) unless ``wait``."""
        if self._stopped:
            raise ModelError(f"node {self.node_id} is stopping")
        spec = self.spec(model_id)
        async with self._lock:
            run = self.runs.get(model_id)
            if run is None or not run.active:
                run = await self._launch(spec, evict)
                self._bringups[model_id] = self._bringup_tasks.spawn(self._bring_up(run), model_id)
        if wait:
            task = self._bringups.get(model_id)
            if task is not None:
                await asyncio.shield(task)
            if run.state == "failed":
                raise EngineStartError(run.error or f"{model_id} failed to start")
        return self.describe(model_id)

    async def _launch(self, spec: ModelSpec, evict: bool) -> ModelRun:
        """Place the model, evict what must make room, pick its port, and build its run (not started)."""
        placement, victims = await self._place(spec, evict)
        await self._evict(spec, victims)
        port = self._port(spec)
        run = self._run_for(spec, placement, port)
        self.runs[spec.id] = run
        logger.info(
            "starting model {} with {} on port {} (GPUs {})",
            spec.id,
            spec.engine,
            port,
            list(placement.gpu_indices) or "none",
        )
        return run

    async def _place(self, spec: ModelSpec, evict: bool) -> tuple[Placement, list[str]]:
        """Where the model fits in free VRAM, and (with ``evict``) which idle models must go first."""
        gpus = await asyncio.to_thread(self.gpu_reader) if spec.gpus else []
        residents = await self._residents()
        headroom = self.config.vram_headroom_mb
        if evict:
            return plan_with_eviction(spec.id, spec.vram_mb, spec.gpus, gpus, residents, headroom)
        try:
            return plan(spec.id, spec.vram_mb, spec.gpus, gpus, residents, headroom), []
        except PlacementError as e:
            idle = [r.model_id for r in residents if r.in_flight == 0]
            hint = f"; 'hydra models start {spec.id} --evict' may stop idle: {', '.join(idle)}" if idle else ""
            raise PlacementError(f"{e}{hint}") from None

    async def _evict(self, spec: ModelSpec, victims: list[str]) -> None:
        """Unload each victim through the policy gate; the first refusal stops the start."""
        for victim in victims:
            if self.actions is None:
                raise PlacementError(
                    f"cannot make room for {spec.id!r}: evicting {victim!r} needs the policy gate, "
                    "which this manager was built without"
                )
            out = await self.actions.unload(victim, spec.id, self._exec_unload)
            if out.status is not OutcomeStatus.SUCCEEDED:
                raise PlacementError(f"cannot make room for {spec.id!r}: {refusal(out)}")

    def _port(self, spec: ModelSpec) -> int:
        """The model's configured port if no run of ours holds it and it is free, else any free port."""
        host = self.config.bind_host
        if spec.port is None:
            return _free_port(host)
        taken = {r.launch.port for r in self.runs.values() if r.active}
        if spec.port in taken or (spec.systemd_unit is None and not _port_free(host, spec.port)):
            raise EngineStartError(f"port {spec.port} of model {spec.id!r} is already in use on {host}")
        return spec.port

    def _run_for(self, spec: ModelSpec, placement: Placement, port: int) -> ModelRun:
        """The engine's launch and its runner: a systemd unit the model names, else a child process."""
        host = self.config.bind_host
        workdir = self.state_dir / "engines" / spec.id.replace("/", "_")
        engine = engine_for(spec.engine, tabbyapi_dir=self.config.tabbyapi_dir)
        launch = Launch(
            spec,
            host,
            port,
            workdir,
            placement.gpu_indices,
            placement.gpu_fraction,
            tuple(spec.command or self.config.command_for(spec.engine)),
        )
        runner: Runner
        if spec.systemd_unit:
            runner = SystemdRunner(spec.systemd_unit, systemctl=self.config.systemctl)
        else:
            runner = ProcessRunner(
                engine.argv(launch),
                env={**engine.env(launch), **spec.env},
                cwd=engine.cwd(launch),
                log_path=workdir / "engine.log",
            )
        probe_host = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
        return ModelRun(
            engine,
            runner,
            launch,
            placement,
            probe_base=f"http://{probe_host}:{port}",
            announce_base=f"http://{self.config.announce_host}:{port}",
            http=self.http,
        )

    async def _bring_up(self, run: ModelRun) -> None:
        try:
            await run.start()
        except EngineStartError as e:
            if run.state == "failed":
                await self._event("model.failed", {"model": run.spec_id, "error": str(e)})
            return
        if run.state != "ready":
            return
        if self.registry is not None:
            await self.registry.announce(self.endpoint(run))
        await self._event(
            "model.ready",
            {
                "model": run.spec_id,
                "url": run.announce_base + "/v1",
                "gpus": list(run.placement.gpu_indices),
                "start_s": round((run.ready_at or time.time()) - run.started_at, 2),
            },
        )

    def endpoint(self, run: ModelRun, **changes: Any) -> EndpointInfo:
        s = run.launch.spec
        info = EndpointInfo(
            id=endpoint_key(self.node_id, s.id),
            model=s.id,
            engine=s.engine,
            base_url=run.announce_base + "/v1",
            node=self.node_id,
            tier=s.tier,
            context_length=s.context_length,
            health="healthy",
            in_flight=run.in_flight or 0,
            aliases=list(s.aliases),
            completions_only=s.completions_only,
        )
        return info.model_copy(update=changes) if changes else info

    async def stop_model(self, model_id: str, *, force: bool = False) -> dict[str, Any]:
        self.spec(model_id)
        run = self.runs.get(model_id)
        if run is not None and run.state == "failed":
            run.state = "stopped"  # the owner stops a crashed model: it is no longer wanted back
        if run is None or not run.active:
            return self.describe(model_id)
        if not force and run.state != "starting":
            load = await run.engine.in_flight(self.http, run.probe_base)
            if load:
                raise ModelBusyError(
                    f"model {model_id!r} has {load} request(s) in flight; retry when idle or pass --force"
                )
        await self._stop_run(run, "stopped by request")
        return self.describe(model_id)

    async def _stop_run(self, run: ModelRun, reason: str) -> None:
        was_active = run.active
        run.mark_stopping()
        if self.registry is not None:
            await self.registry.withdraw(endpoint_key(self.node_id, run.spec_id))
        await run.stop()
        task = self._bringups.pop(run.spec_id, None)
        if task is not None and not task.done():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), 5)
        if was_active:
            await self._event(
                "model.stopped", {"model": run.spec_id, "reason": reason, "exit_code": run.exit_code}
            )

    async def _monitor_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.health_interval_s)
            for run in list(self.runs.values()):
                if run.state not in ("ready", "unhealthy"):
                    continue
                before = (run.state, run.in_flight)
                try:
                    await run.check()
                except Exception as e:  # never let one engine stop the monitor
                    logger.warning("health check of {} failed: {}", run.spec_id, e)
                    continue
                after: str = run.state
                if self.actions is not None and after in ("ready", "failed"):
                    self.actions.observe(run.spec_id, "ok" if after == "ready" else "failed")
                if after == "failed":
                    for listener in self.failure_listeners:  # healing records it at once
                        listener(run.spec_id)
                    if self.registry is not None:
                        await self.registry.withdraw(endpoint_key(self.node_id, run.spec_id))
                    await self._event("model.failed", {"model": run.spec_id, "error": run.error})
                    self._schedule_restart(run.spec_id)
                elif self.registry is not None and run.active and before != (after, run.in_flight):
                    health = "healthy" if after == "ready" else "down"
                    await self.registry.announce(self.endpoint(run, health=health))

    # ---- the manager's own actions (run by the policy gate) ------------------------------
    def _schedule_restart(self, model_id: str) -> None:
        if self.actions is None or self._stopped:
            return

        def wanted() -> bool:
            run = self.runs.get(model_id)
            return not self._stopped and run is not None and run.state == "failed"

        self.actions.schedule_restart(model_id, self._exec_restart, wanted)

    async def _exec_restart(self, action: Action) -> dict[str, Any]:
        model_id = str(action.params.get("model", ""))
        self.spec(model_id)
        run = self.runs.get(model_id)
        if run is not None and run.active:
            return {"model": model_id, "state": run.state, "note": "already running"}
        if run is not None and run.state == "stopped":
            raise ModelError(f"model {model_id!r} was stopped since it crashed; not restarting it")
        st = await self.start_model(model_id, wait=True)
        logger.info("model {} restarted (pid {})", model_id, st["pid"])
        return {"model": model_id, "state": st["state"], "pid": st["pid"], "url": st["url"]}

    async def _exec_unload(self, action: Action) -> dict[str, Any]:
        victim = str(action.params.get("model", ""))
        reason = f"evicted for {action.params.get('for')}"
        run = self.runs.get(victim)
        if run is None or not run.active:
            return {"model": victim, "note": "already stopped"}
        load = await run.engine.in_flight(self.http, run.probe_base) if run.state != "starting" else 0
        if load != 0:
            what = "an unknown number of" if load is None else str(load)
            raise ModelBusyError(f"model {victim!r} has {what} request(s) in flight; not evicting it")
        logger.warning("evicting idle model {} ({})", victim, reason)
        await self._stop_run(run, reason)
        await self._event("model.evicted", {"model": victim, "for": action.params.get("for")})
        return {"model": victim, "stopped": True}

    async def _event(self, type_: str, data: dict[str, Any]) -> None:
        if self.events is None:
            return
        try:
            await self.events.publish(type_, data)
        except Exception as e:  # the audit trail is best effort when the bus is down
            logger.warning("could not record event {}: {}", type_, e)

    # ---- views -------------------------------------------------------------------------
    def describe(self, model_id: str) -> dict[str, Any]:
        spec = self.spec(model_id)
        run = self.runs.get(model_id)
        base = {
            "id": spec.id,
            "node": self.node_id,
            "engine": spec.engine,
            "tier": spec.tier,
            "context_length": spec.context_length,
            "vram_mb": spec.vram_mb,
            "gpus_wanted": spec.gpus,
            "autostart": spec.autostart,
            "systemd_unit": spec.systemd_unit,
            "completions_only": spec.completions_only,
        }
        if run is None:
            return {**base, "state": "stopped"}
        return {**base, **run.status()}

    def list_models(self) -> list[dict[str, Any]]:
        return [self.describe(i) for i in sorted(self.specs)]

    # ---- node RPC ----------------------------------------------------------------------
    async def _rpc_list(self, raw: dict[str, Any]) -> dict[str, Any]:
        _params(StatusParams, raw, "models.list")
        gpus = await asyncio.to_thread(self.gpu_reader)
        return {
            "node": self.node_id,
            "models": self.list_models(),
            "ollama": [d.status() for d in self._ollama],
            "gpus": [g.model_dump() for g in gpus],
        }

    async def _rpc_status(self, raw: dict[str, Any]) -> dict[str, Any]:
        p: StatusParams = _params(StatusParams, raw, "models.status")
        if p.id is not None:
            return self.describe(p.id)
        return await self._rpc_list({})

    async def _rpc_start(self, raw: dict[str, Any]) -> dict[str, Any]:
        p: StartParams = _params(StartParams, raw, "models.start")
        self.spec(p.id)
        await self._owner_command("model.start_requested", p.id, {"evict": p.evict})
        return await self.start_model(p.id, evict=p.evict, wait=p.wait)

    async def _rpc_stop(self, raw: dict[str, Any]) -> dict[str, Any]:
        p: StopParams = _params(StopParams, raw, "models.stop")
        self.spec(p.id)
        await self._owner_command("model.stop_requested", p.id, {"force": p.force})
        return await self.stop_model(p.id, force=p.force)

    async def _owner_command(self, type_: str, model_id: str, data: dict[str, Any]) -> None:
        """The owner's own start/stop: not a policy action; it replaces any pending automatic restart."""
        if self.actions is not None:
            await self.actions.cancel_restart(model_id)
        await self._event(type_, {"model": model_id, "by": "owner", **data})
