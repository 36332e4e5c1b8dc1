"""Node control: a NATS micro service per node on ``hydra.node.<id>.rpc.<verb>``.

Handlers take the request's JSON object and return a JSON object. A handler's
:class:`~hydra_os.errors.HydraError` becomes a micro error reply with the error's own
:attr:`~hydra_os.errors.HydraError.service_code` (400 for a request to fix, 404, 500) and its message;
anything else is code 500 with the exception type, never a hanging request.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import nats.errors
from loguru import logger
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service

from hydra_os import __version__
from hydra_os.bus import names
from hydra_os.bus.client import Bus
from hydra_os.errors import HydraError, RpcError, RpcNoResponderError
from hydra_os.lifecycle import RpcHandler
from hydra_os.node.errors import RpcRequestError

Handler = RpcHandler


class NodeRpc:
    def __init__(self, bus: Bus, node_id: str) -> None:
        self.bus = bus
        self.node_id = node_id
        self._handlers: dict[str, Handler] = {}
        self._service: Service | None = None
        self._group: Any = None

    def handle(self, verb: str, handler: Handler) -> None:
        """Register a verb; components do this while being built, before ``start()``."""
        if self._group is not None:
            raise RuntimeError("register node RPC verbs before start()")
        self._handlers[verb] = handler

    def handle_all(self, handlers: Mapping[str, Handler]) -> None:
        """Register a component's ``rpc_handlers()`` (the wiring does, in one place)."""
        for verb, handler in handlers.items():
            self.handle(verb, handler)

    async def start(self) -> None:
        self._service = await add_service(
            self.bus.nc,
            name=names.NODE_SERVICE_NAME,
            version=__version__,
            description=f"control of node {self.node_id}",
            metadata={"node": self.node_id},
        )
        self._group = self._service.add_group(name=names.node_rpc_prefix(self.node_id))
        for verb, handler in self._handlers.items():
            # micro endpoint names allow no dots; the subject keeps the verb as written ("models.list")
            name = verb.replace(".", "-")
            await self._group.add_endpoint(name=name, subject=verb, handler=self._wrap(verb, handler))

    def _wrap(self, verb: str, handler: Handler) -> Callable[[Request], Awaitable[None]]:
        async def endpoint(req: Request) -> None:
            try:
                params = json.loads(req.data) if req.data else {}
                if not isinstance(params, dict):
                    raise RpcRequestError("the request body must be a JSON object")
                result = await handler(params)
            except HydraError as e:
                await req.respond_error(e.service_code, str(e))
                return
            except json.JSONDecodeError as e:
                await req.respond_error("400", f"the request body is not JSON: {e}")
                return
            except Exception as e:
                logger.exception("node rpc {} failed", verb)
                await req.respond_error("500", f"{type(e).__name__}: {e}")
                return
            await req.respond(json.dumps(result, default=str).encode())

        return endpoint

    async def stop(self) -> None:
        if self._service is not None:
            service, self._service = self._service, None
            try:
                await service.stop()
            except Exception as e:
                logger.debug("stopping node rpc: {}", e)


async def call(bus: Bus, node_id: str, verb: str, params: dict[str, Any] | None = None,
               timeout: float | None = None) -> dict[str, Any]:
    """Ask one node; raises :class:`RpcError` with the node's own message on failure."""
    subject = names.node_rpc(node_id, verb)
    try:
        msg = await bus.nc.request(subject, json.dumps(params or {}).encode(),
                                   timeout=timeout or bus.config.request_timeout)
    except Exception as e:
        if isinstance(e, nats.errors.NoRespondersError):
            raise RpcNoResponderError(f"node {node_id!r} does not answer (not running, or no such node)") from None
        if isinstance(e, nats.errors.TimeoutError):
            raise RpcError(f"node {node_id!r} did not answer {verb} in time") from None
        raise RpcError(f"request to node {node_id!r} failed: {e}") from None
    headers = msg.headers or {}
    if "Nats-Service-Error-Code" in headers:
        raise RpcError(f"node {node_id} refused {verb}: {headers.get('Nats-Service-Error', 'error')}")
    result = json.loads(msg.data) if msg.data else {}
    if not isinstance(result, dict):
        raise RpcError(f"node {node_id} sent a malformed answer to {verb}")
    return result
