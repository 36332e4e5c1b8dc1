"""Builds this node's components from config and roles. The only place concrete backends are chosen."""

from __future__ import annotations

from hydra_os.component import Component, NodeContext


def build_components(ctx: NodeContext) -> list[Component]:
    """Components in start order; the daemon stops them in reverse."""
    components: list[Component] = []
    return components
