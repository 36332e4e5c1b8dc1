"""Memory as a service: the memory node serves its stores on ``hydra.memory.<verb>`` (a NATS micro
service, one endpoint per entry of :data:`memory.verbs.VERBS`); every other node uses
:class:`memory.client.MemoryClient`, whose parts implement the same Protocols.

Wire format: the request is a JSON object of parameters (the verb's params model); a reply is
``{"result": ...}``. An error is a micro error reply (code 400 bad input, 404 not found, 500 backend)
whose body is ``{"type": <memory error class>, "message": ...}``, so the client raises the same error
class. A write (``VerbSpec.write``) that carries a ``Hydra-Request-Id`` header is applied once per id.
Every reply carries ``Hydra-Memory-Instance``, an id of this start of the service, so a long-lived client
(:class:`memory.client.MemoryLink`) notices a restart and handshakes again.

Verbs: ``hello`` (the client's handshake), ``info`` (the full report: counts every store);
``core.{list,get,create,append,replace,rewrite,history,import}``;
``archival.{add,search,get,count,reindex,optimize,export,import}``;
``graph.{upsert_entity,resolve,upsert_relation,facts_about,neighbours,facts_valid_at,counts,export,import}``;
``learnings.{add,get,list,search,export,import}``. Export pages shrink to fit the bus's max payload.
``archival.reindex`` re-embeds with the memory node's configured embedder and, when the caller names a
``progress`` subject, publishes ``{"done": n, "total": m}`` there as batches complete.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from loguru import logger
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service

from hydra_os import __version__
from hydra_os.bus import names
from hydra_os.bus.client import Bus
from memory import errors as merr
from memory.archival.maintenance import BackgroundOptimizer
from memory.client import INSTANCE_HEADER, MemoryClient
from memory.idempotency import REQUEST_ID_HEADER, Outcome, RecentRequests, request_digest
from memory.protocols import Embedder, MemoryStack
from memory.store_down import StoreName
from memory.verb_models import Params
from memory.verbs import VERBS, VerbSpec

__all__ = ["MemoryClient", "MemoryService"]  # MemoryClient: callers from before memory/client.py import it here


def _params(spec: VerbSpec[Any, Any], data: bytes) -> Params:
    try:
        raw = json.loads(data) if data else {}
    except json.JSONDecodeError as e:
        raise merr.MemoryInputError(f"request body: not JSON ({e})") from None
    if not isinstance(raw, dict):
        raise merr.MemoryInputError("request body: expected a JSON object of parameters")
    model: type[Params] = spec.params
    return model.from_wire(raw)


def _error_outcome(err: merr.MemoryLayerError) -> Outcome:
    return Outcome(json.dumps(merr.error_to_wire(err)).encode(), err.service_code, str(err))


class MemoryService:
    """Serves a local :class:`MemoryStack` on the bus. ``stop()`` is idempotent."""

    def __init__(
        self,
        bus: Bus,
        stack: MemoryStack,
        node_id: str,
        embedder: Embedder | None = None,
        optimizer: BackgroundOptimizer | None = None,
        down: Mapping[StoreName, str] | None = None,
        requests_path: Path | None = None,
    ) -> None:
        self.bus = bus
        self.stack = stack
        self.node_id = node_id
        self.embedder = embedder  # the configured embedder, for reindex
        # With an optimiser, index optimisation is the daemon's: `archival.optimize` only schedules it,
        # and imports, reindexes and every `kick_after` added passages kick it. Without one (tests,
        # a bare service) `archival.optimize` runs it in the request.
        self.optimizer = optimizer
        self.down = down if down is not None else {}  # the stores that are StoreDown stand-ins, and why
        self._service: Service | None = None
        self._reply_headers: dict[str, str] = {}
        self.recent = RecentRequests(path=requests_path)  # outcomes of recent writes by request id, for retries

    async def start(self) -> None:
        self._reply_headers = {INSTANCE_HEADER: uuid.uuid4().hex}  # a new id per start: clients see a restart
        loaded = await asyncio.to_thread(self.recent.load, asyncio.get_running_loop())
        if loaded:
            logger.info("memory service: {} recent write request ids remembered from before", loaded)
        self._service = await add_service(
            self.bus.nc,
            name=names.MEMORY_SERVICE_NAME,
            version=__version__,
            description="Hydra memory: core blocks, archival passages, knowledge graph, learnings",
            metadata={"node": self.node_id},
        )
        group = self._service.add_group(name=names.MEMORY_PREFIX)
        for spec in VERBS.values():
            await group.add_endpoint(name=spec.endpoint, subject=spec.verb.value, handler=self._endpoint(spec))

    def _endpoint(self, spec: VerbSpec[Any, Any]) -> Callable[[Request], Awaitable[None]]:
        async def endpoint(req: Request) -> None:
            rid = (req.headers or {}).get(REQUEST_ID_HEADER) if spec.write else None
            if rid is None:
                out = await self._outcome(spec, req.data)
            else:
                out = await self._idempotent(spec, rid, req.data)
            if out.code is None:
                await req.respond(out.body, headers=self._reply_headers)
            else:
                await req.respond_error(out.code, out.message, data=out.body, headers=self._reply_headers)

        return endpoint

    async def _idempotent(self, spec: VerbSpec[Any, Any], rid: str, data: bytes) -> Outcome:
        """Run a write once per request id; a repeat gets the first run's reply."""
        verb = spec.verb
        try:
            first, fut = self.recent.claim(rid, request_digest(verb, data))
        except merr.MemoryInputError as e:
            return _error_outcome(e)
        if not first:
            logger.info("memory service {}: request {} repeated; answering with the first outcome", verb, rid)
            return await asyncio.shield(fut)
        out = Outcome(b"", "500", f"{verb} was interrupted on the memory node")
        try:
            out = await self._outcome(spec, data)
        finally:  # also when cancelled: a repeat waiting on it must not hang
            self.recent.settle(rid, fut, out)
        try:
            await asyncio.to_thread(self.recent.save, rid)
        except OSError as e:  # the write itself succeeded: a lost id only weakens a retry across a restart
            logger.warning("memory service: cannot record request id {}: {}", rid, e.strerror)
        return out

    async def _outcome(self, spec: VerbSpec[Any, Any], data: bytes) -> Outcome:
        try:
            result = spec.result.dump_python(await spec.call(self, _params(spec, data)), mode="json")
        except merr.MemoryLayerError as e:
            return _error_outcome(e)
        except Exception as e:
            logger.exception("memory service {} failed", spec.verb)
            wire = {"type": "MemoryBackendError", "message": f"{spec.verb} failed on the memory node: {e}"}
            return Outcome(json.dumps(wire).encode(), "500", wire["message"])
        return Outcome(json.dumps({"result": result}).encode())

    async def stop(self) -> None:
        service, self._service = self._service, None
        if service is not None:
            try:
                await service.stop()
            except Exception as e:  # the connection may already be gone at shutdown
                logger.debug("stopping memory service: {}", e)

    async def __aenter__(self) -> MemoryService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
