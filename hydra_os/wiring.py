"""Builds this node's components from config and roles. The only place concrete backends are chosen."""

from __future__ import annotations

from hydra_os.component import Component, NodeContext
from hydra_os.healing.component import HealingService
from hydra_os.healing.sweep import register as register_sweep
from hydra_os.inference.gateway import Gateway
from hydra_os.inference.manager import ModelManager
from hydra_os.inference.memory_chat import build_memory_chat
from hydra_os.inference.openapi import openapi_extra
from hydra_os.inference.registry import EndpointRegistry
from hydra_os.intake.component import IntakeComponent
from hydra_os.mcp import sdk_available
from hydra_os.node.gpu import NvmlProbe
from hydra_os.policy.service import PolicyService
from hydra_os.tasks.setup import build_tasks
from memory.wiring import build_memory_component, feedback_router, memory_router


def build_components(ctx: NodeContext) -> list[Component]:
    """Components in start order; the daemon stops them in reverse."""
    components: list[Component] = []
    # Every node enforces the autonomy policy; components take side effects through policy.gate
    # (hydra_os.policy.model.Gate). Built first so later components can use the gate.
    policy = PolicyService(ctx)
    components.append(policy)
    # Self-healing on every node: checks, the process supervisor and fixups, all through policy.gate.
    healing = HealingService(ctx, policy.gate)
    if ctx.embedded_bus is not None:
        healing.adopt_embedded_bus(ctx.embedded_bus)  # a killed embedded nats-server comes back
    components.append(healing)
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
        components.append(registry)
    if registry is not None and ctx.has_role("gateway"):
        gateway = Gateway(ctx.settings.inference, registry, ctx.node_id, auth=ctx.auth,
                          max_body=ctx.settings.api.max_body_bytes, state_dir=ctx.state_dir,
                          memory=build_memory_chat(ctx))
        ctx.routers.append(gateway.routes())
        ctx.hot_routes.update(gateway.hot_paths())

        ctx.openapi_extra.append(openapi_extra)  # built on the first /openapi.json, not at start-up
        for verb, handler in gateway.rpc_handlers().items():
            ctx.rpc.handle(verb, handler)
        components.append(gateway)
        if ctx.settings.ui.enabled and ctx.auth is not None:  # Mission Control at /ui (docs/ui.md)
            from hydra_os.ui.component import UiComponent

            ui = UiComponent(ctx)
            ctx.routers.extend(ui.routes())
            ctx.body_gates.append(ui.body_allowed)
            healing.healer.approval_buttons = ui.approval_buttons  # Approve/Deny in ntfy notifications
            components.append(ui)
    if ctx.has_role("gpu"):
        manager = ModelManager(
            ctx.settings.models,
            node_id=ctx.node_id,
            state_dir=ctx.state_dir,
            gpu_reader=NvmlProbe().read,
            registry=registry,
            events=ctx.events,
            gate=policy.gate,  # evictions and crashed-engine restarts go through the policy
        )
        manager.register_rpc(ctx.rpc)
        healing.watch_models(manager)  # its engines are watched by default (model_engine check)
        components.append(manager)
    # Memory: the memory node owns the stores and serves them on hydra.memory.* (they open in the
    # background); every node gets /v1/memory/* through the bus client.
    ctx.routers.append(memory_router(ctx))
    ctx.routers.append(feedback_router(ctx))  # POST /v1/feedback: thumbs up/down as a learning
    if ctx.has_role("memory"):
        components.append(build_memory_component(ctx))
    # MCP for coding agents at /mcp (behind the API token); `hydra mcp` serves the same over stdio.
    # The SDK is the optional `mcp` extra (not in nixpkgs): without it there is no /mcp.
    if ctx.auth is not None and sdk_available():
        from hydra_os.mcp.http import McpComponent  # lazy: the MCP SDK is an optional extra

        mcp = McpComponent(ctx, ctx.auth)
        ctx.routers.append(mcp.router())
        components.append(mcp)
    # Task queue on every node (API routes); worker and scheduler by role. Register task kinds on
    # tasks.registry here, before the node starts (e.g. tasks.registry.register("research.topic", ...)).
    tasks = build_tasks(ctx)
    # The scheduler's health loop: every live node runs its checks once (health.sweep).
    register_sweep(tasks.registry, ctx.bus, ctx.settings.membership.gone_after,
                   ctx.settings.tasks.scheduler.health_kind)
    # Requests in words on every node (POST /v1/requests, `hydra ask`); registers the research, briefing
    # and reminder task kinds on tasks.registry (before the worker starts).
    components.append(IntakeComponent(ctx, tasks, policy.gate))
    # Backups: /v1/backups and the nightly backup.run task kind, on worker nodes (hydra_os/backup).
    if ctx.has_role("worker"):
        from hydra_os.backup.service import BackupService

        backup = BackupService(ctx, policy.gate)
        backup.register_kind(tasks.registry)
        ctx.routers.extend(backup.routes())
        components.append(backup)
    # The creative studio (visual-novel projects, images, voices, Ren'Py export): routes, verb, task kinds.
    if ctx.settings.creative.enabled:
        from pipelines.creative.component import CreativeComponent

        creative = CreativeComponent(ctx, tasks)
        ctx.routers.extend(creative.routes())
        for verb, handler in creative.rpc_handlers().items():
            ctx.rpc.handle(verb, handler)
        components.append(creative)
    components.extend(tasks.components)
    return components
