"""Builds this node's components from config and roles. The only place concrete backends are chosen."""

from __future__ import annotations

from hydra_os.component import Component, NodeContext
from hydra_os.healing.component import HealingService
from hydra_os.healing.sweep import register as register_sweep
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
        from hydra_os.inference.gateway import Gateway  # lazy: gateway role only (numpy, the router's model)
        from hydra_os.inference.memory_chat import build_memory_chat  # lazy: gateway role only
        from hydra_os.inference.openapi import openapi_extra  # lazy: gateway role only

        gateway = Gateway(ctx.settings.inference, registry, ctx.node_id, auth=ctx.auth,
                          max_body=ctx.settings.api.max_body_bytes, state_dir=ctx.state_dir,
                          memory=build_memory_chat(ctx))
        ctx.routers.append(gateway.routes())
        ctx.hot_routes.update(gateway.hot_paths())

        ctx.openapi_extra.append(openapi_extra)  # built on the first /openapi.json, not at start-up
        ctx.rpc.handle("route-explain", gateway.rpc_explain)
        ctx.rpc.handle("route-feedback", gateway.rpc_feedback)
        components.append(gateway)
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
    components.extend(tasks.components)
    return components
