"""The seam between the node supervisor and the subsystems it runs.

A component (router, model manager, memory service, healer, scheduler, worker) is built from the
:class:`NodeContext` in :mod:`hydra_os.wiring` — the one place that turns config into concrete
backends — then started in order after the node has joined the bus, and stopped in reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from fastapi import APIRouter

from hydra_os.api.auth import BearerToken
from hydra_os.bus.client import Bus
from hydra_os.bus.embedded import EmbeddedNats
from hydra_os.config import Settings
from hydra_os.events import EventLog
from hydra_os.lifecycle import ComponentState, RpcHandler, TaskKind
from hydra_os.node.membership import Membership
from hydra_os.node.rpc import NodeRpc
from hydra_os.readiness import Probe


@runtime_checkable
class Registrant(Protocol):
    """What :mod:`hydra_os.wiring` registers, in one place, for a component or an API-only part
    (empty by default on :class:`hydra_os.lifecycle.Lifecycle`)."""

    def routes(self) -> Sequence[APIRouter]: ...

    def rpc_handlers(self) -> Mapping[str, RpcHandler]: ...

    def task_kinds(self) -> Sequence[TaskKind]: ...


@runtime_checkable
class Component(Registrant, Protocol):
    """What the daemon runs; :class:`hydra_os.lifecycle.Lifecycle` is the base that implements it."""

    name: str
    state: ComponentState
    reason: str | None

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Idempotent."""
        ...

    def status(self) -> dict[str, Any]:
        """Includes ``lifecycle: {state, reason}``."""
        ...


@dataclass
class NodeContext:
    """What a component may use. Built once by the daemon; no globals."""

    settings: Settings
    bus: Bus
    events: EventLog
    rpc: NodeRpc
    membership: Membership
    embedded_bus: EmbeddedNats | None = None
    """The daemon's own nats-server when no bus.url is set (the daemon starts and stops it)."""
    auth: BearerToken | None = None
    """The bearer-token FastAPI dependency: ``APIRouter(dependencies=[Depends(ctx.auth)])``."""
    routers: list[APIRouter] = field(default_factory=list)
    """The API routers :func:`hydra_os.wiring.register` collected from the components (before the API starts)."""
    hot_routes: dict[tuple[str, str], Any] = field(default_factory=dict)
    """``(method, path) -> ASGI app`` served ahead of FastAPI's routing and middleware (the OpenAI
    proxy path). Such an endpoint does its own auth, errors and headers."""
    openapi_extra: list[Callable[[], dict[str, Any]]] = field(default_factory=list)
    """Builders of partial OpenAPI documents (``paths``, ``components.schemas``) for routes FastAPI
    cannot describe itself (the hot routes); called when ``/openapi.json`` is first asked for."""
    body_gates: list[Callable[[Any], bool]] = field(default_factory=list)
    """ASGI-scope tests: a request one of them accepts may send a body without the bearer token (the
    web page's sign-in form and its signed-in browsers); the route checks its own credentials."""
    readiness: dict[str, Probe] = field(default_factory=dict)
    """Subsystem name -> probe (None = can serve, else why not); ``/readyz`` fails while any reports."""

    @property
    def node_id(self) -> str:
        return self.settings.node.id

    @property
    def state_dir(self) -> Path:
        return self.settings.node.state_dir

    def has_role(self, role: str) -> bool:
        return role in self.settings.node.roles
