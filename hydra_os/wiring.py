"""Builds this node's components from config and roles. The only place concrete backends are chosen."""

from __future__ import annotations

from collections.abc import Iterable

from loguru import logger

from hydra_os.backup.service import BackupService
from hydra_os.component import Component, NodeContext, Registrant
from hydra_os.healing.component import HealingService
from hydra_os.inference.registry import EndpointRegistry
from hydra_os.intake.component import IntakeComponent
from hydra_os.mcp import sdk_available
from hydra_os.node.gpu import NvmlProbe
from hydra_os.policy.service import PolicyService
from hydra_os.scheduler.setup import build_scheduler, read_schedule
from hydra_os.tasks.registry import TaskRegistry
from hydra_os.tasks.setup import build_tasks
from hydra_os.ui.component import UiComponent
from memory.wiring import MemoryApi, MemoryComponent
from pipelines.creative.component import CreativeComponent


def register(ctx: NodeContext, kinds: TaskRegistry, parts: Iterable[Registrant]) -> None:
    """The one place routes, node RPC verbs and task kinds are registered, before anything starts.

    A kind that ``tasks.kind_modules`` already registered wins over a part's built-in one (the owner's
    module replaces ours, as it always did for the intake kinds)."""
    for part in parts:
        ctx.routers.extend(part.routes())
        ctx.rpc.handle_all(part.rpc_handlers())
        for spec in part.task_kinds():
            if spec.kind in kinds:
                logger.info("task kind {} comes from tasks.kind_modules; the built-in one is not used", spec.kind)
                continue
            kinds.add(spec)


def build_components(ctx: NodeContext) -> list[Component]:
    """Components in start order; the daemon stops them in reverse. Their routes, RPC verbs and task
    kinds (and those of the API-only parts) are registered at the end, by :func:`register`."""
    components: list[Component] = []
    parts: list[Registrant] = []  # components and API-only parts, in the order the API lists their routes

    def add(component: Component) -> None:
        components.append(component)
        parts.append(component)

    # Every node enforces the autonomy policy; components take side effects through policy.gate
    # (hydra_os.policy.model.Gate). Built first so later components can use the gate.
    policy = PolicyService(ctx)
    add(policy)
    # Self-healing on every node: checks, the process supervisor and fixups, all through policy.gate.
    healing = HealingService(ctx, policy.gate)
    if ctx.embedded_bus is not None:
        healing.adopt_embedded_bus(ctx.embedded_bus)  # a killed embedded nats-server comes back
    add(healing)
    # One endpoint registry per node, shared by the gateway (reads, announces static endpoints) and
    # the model manager (announces what its engines serve). Started first, stopped last.
    registry = None
    if ctx.has_role("gateway") or ctx.has_role("gpu"):
        registry = EndpointRegistry(
            ctx.bus,
            ctx.node_id,
            membership=ctx.membership,
            refresh_interval=ctx.settings.membership.heartbeat_interval,
            gone_after=ctx.settings.membership.gone_after,
        )
        add(registry)
    if registry is not None and ctx.has_role("gateway"):
        from hydra_os.inference.gateway import Gateway  # lazy: gateway role only (numpy, the router's model)
        from hydra_os.inference.memory_chat import build_memory_chat  # lazy: gateway role only
        from hydra_os.inference.openapi import openapi_extra  # lazy: gateway role only

        gateway = Gateway(ctx.settings.inference, registry, ctx.node_id, auth=ctx.auth,
                          max_body=ctx.settings.api.max_body_bytes, state_dir=ctx.state_dir,
                          memory=build_memory_chat(ctx))
        ctx.hot_routes.update(gateway.hot_paths())

        ctx.openapi_extra.append(openapi_extra)  # built on the first /openapi.json, not at start-up
        add(gateway)
        if ctx.settings.ui.enabled and ctx.auth is not None:  # Mission Control at /ui (docs/ui.md)
            ui = UiComponent(ctx)
            ctx.body_gates.append(ui.body_allowed)
            healing.healer.approval_buttons = ui.approval_buttons  # Approve/Deny in ntfy notifications
            add(ui)
    if ctx.has_role("gpu"):
        from hydra_os.inference.manager import ModelManager  # lazy: gpu role only (engines, prometheus)

        manager = ModelManager(
            ctx.settings.models,
            node_id=ctx.node_id,
            state_dir=ctx.state_dir,
            gpu_reader=NvmlProbe().read,
            registry=registry,
            events=ctx.events,
            gate=policy.gate,  # evictions and crashed-engine restarts go through the policy
        )
        healing.watch_models(manager)  # its engines are watched by default (model_engine check)
        add(manager)
    # Memory: the memory node owns the stores and serves them on hydra.memory.* (they open in the
    # background); every node gets /v1/memory/* through the bus client.
    s = ctx.settings
    parts.append(MemoryApi(s.memory, ctx.bus, ctx.auth, s.owner.name))  # and POST /v1/feedback
    if ctx.has_role("memory"):
        add(MemoryComponent(s.memory, ctx.state_dir, ctx.bus, ctx.node_id))
    # MCP for coding agents at /mcp (behind the API token); `hydra mcp` serves the same over stdio.
    # The SDK is the optional `mcp` extra (not in nixpkgs): without it there is no /mcp.
    if ctx.auth is not None and sdk_available():
        from hydra_os.mcp.http import McpComponent  # lazy: the MCP SDK is an optional extra

        add(McpComponent(ctx, ctx.auth))
    # Task queue on every node (API routes); worker and scheduler by role. Components offer their task
    # kinds (task_kinds()); register() puts them on tasks.registry before the worker starts.
    tasks = build_tasks(ctx, schedule=lambda: read_schedule(ctx.bus))
    scheduler = build_scheduler(ctx, tasks.queue)
    parts += [tasks, scheduler]
    # Requests in words on every node (POST /v1/requests, `hydra ask`); offers the research, briefing,
    # reminder, later-operation and memory-upkeep task kinds.
    add(IntakeComponent(ctx, tasks, policy.gate))
    # Backups: /v1/backups and the nightly backup.run task kind, on worker nodes (hydra_os/backup).
    if ctx.has_role("worker"):
        add(BackupService(ctx, policy.gate))
    # The creative studio (visual-novel projects, images, voices, Ren'Py export): routes, verb, task kinds.
    if ctx.settings.creative.enabled:
        add(CreativeComponent(ctx, tasks))
    for component in (*tasks.components, *scheduler.components):
        add(component)
    register(ctx, tasks.registry, parts)
    return components
