"""Builds this node's components from config and roles. The only place concrete backends are chosen."""

from __future__ import annotations

from collections.abc import Iterable

from loguru import logger

from hydra_os.component import Component, NodeContext, Registrant
from hydra_os.tasks.registry import TaskRegistry


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
    from hydra_os.policy.service import PolicyService

    policy = PolicyService(ctx)
    add(policy)
    # Self-healing on every node: checks, the process supervisor and fixups, all through policy.gate.
    from hydra_os.healing.component import HealingService

    healing = HealingService(ctx, policy.gate)
    if ctx.embedded_bus is not None:
        healing.adopt_embedded_bus(ctx.embedded_bus)  # a killed embedded nats-server comes back
    add(healing)
    # One endpoint registry per node, shared by the gateway (reads, announces static endpoints) and
    # the model manager (announces what its engines serve). Started first, stopped last.
    registry = None
    if ctx.has_role("gateway") or ctx.has_role("gpu"):
        from hydra_os.inference.registry import EndpointRegistry

        registry = EndpointRegistry(
            ctx.bus,
            ctx.node_id,
            membership=ctx.membership,
            refresh_interval=ctx.settings.membership.heartbeat_interval,
            gone_after=ctx.settings.membership.gone_after,
        )
        add(registry)
    if registry is not None and ctx.has_role("gateway"):
        from hydra_os.inference.gateway import Gateway
        from hydra_os.inference.memory_chat import build_memory_chat

        gateway = Gateway(ctx.settings.inference, registry, ctx.node_id, auth=ctx.auth,
                          max_body=ctx.settings.api.max_body_bytes, state_dir=ctx.state_dir,
                          memory=build_memory_chat(ctx))
        ctx.hot_routes.update(gateway.hot_paths())
        from hydra_os.inference.openapi import openapi_extra

        ctx.openapi_extra.append(openapi_extra)  # built on the first /openapi.json, not at start-up
        add(gateway)
    if ctx.has_role("gpu"):
        from hydra_os.inference.manager import ModelManager
        from hydra_os.node.gpu import NvmlProbe

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
    from memory.wiring import MemoryApi, MemoryComponent

    s = ctx.settings
    parts.append(MemoryApi(s.memory, ctx.bus, ctx.auth, s.owner.name))  # and POST /v1/feedback
    if ctx.has_role("memory"):
        add(MemoryComponent(s.memory, ctx.state_dir, ctx.bus, ctx.node_id))
    # MCP for coding agents at /mcp (behind the API token); `hydra mcp` serves the same over stdio.
    # The SDK is the optional `mcp` extra (not in nixpkgs): without it there is no /mcp.
    from hydra_os.mcp import sdk_available

    if ctx.auth is not None and sdk_available():
        from hydra_os.mcp.http import McpComponent

        add(McpComponent(ctx, ctx.auth))
    # Task queue on every node (API routes); worker and scheduler by role. Components offer their task
    # kinds (task_kinds()); register() puts them on tasks.registry before the worker starts.
    from hydra_os.tasks.setup import build_tasks

    tasks = build_tasks(ctx)
    parts.append(tasks)
    # Requests in words on every node (POST /v1/requests, `hydra ask`); offers the research, briefing,
    # reminder, later-operation and memory-upkeep task kinds.
    from hydra_os.intake.component import IntakeComponent

    add(IntakeComponent(ctx, tasks, policy.gate))
    for component in tasks.components:
        add(component)
    register(ctx, tasks.registry, parts)
    return components
