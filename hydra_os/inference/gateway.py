"""The gateway component (``gateway`` role): OpenAI-compatible routes on the node API, and ``/metrics``.

Routes (bare Starlette routes for speed; the node's bearer token is checked unless
``inference.require_auth`` is false, so clients use the token as their OpenAI API key):
``POST /v1/chat/completions``, ``POST /v1/completions``, ``POST /v1/embeddings``, ``GET /v1/models``,
``GET /v1/models/{model}``, ``GET /metrics``. The token is checked from the headers before the body is
read, and bodies are capped (``api.max_body_bytes``, 413). Every routed answer carries
``x-hydra-route: tier=...; endpoint=...; model=...; reason=...``. Errors use OpenAI's shape
``{"error": {"message", "type", "param", "code"}}``.

It also announces the static endpoints from ``inference.endpoints`` into the registry and answers the
node RPC verb ``route-explain`` (``hydra route explain``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from loguru import logger

from hydra_os.api.auth import BearerToken
from hydra_os.api.limits import DEFAULT_MAX_BODY, Scope
from hydra_os.inference.admission import WaitQueue
from hydra_os.inference.asgi import Endpoint, Handler, Reply, StreamReply
from hydra_os.inference.auto_classifier import AutoClassifier, state_weights
from hydra_os.inference.classifier import read
from hydra_os.inference.endpoint import EndpointInfo, endpoint_key
from hydra_os.inference.errors import AuthError, BadRequestError, BusyError, InferenceError, ModelNotFoundError
from hydra_os.inference.health import Cooldowns
from hydra_os.inference.memory_chat import MEMORY_OWNER, MemoryChat
from hydra_os.inference.metrics import GatewayMetrics
from hydra_os.inference.proxy import Proxy, route_header
from hydra_os.inference.registry import EndpointRegistry
from hydra_os.inference.requests import parse
from hydra_os.inference.route_log import RouteLog, records_path
from hydra_os.inference.route_params import RouteExplain, RouteFeedback, bad_request
from hydra_os.inference.router import Kind, Plan, Router
from hydra_os.inference.selection import NoPick, Pick, Selector
from hydra_os.lifecycle import Lifecycle, RpcHandler
from hydra_os.node.rpc_params import typed
from hydra_os.secrets import read_secret_file
from hydra_os.sections.inference import InferenceConfig

_TRACE = frozenset({b"x-request-id", b"traceparent", b"tracestate"})  # passed on to the endpoint


def _trace_headers(scope: Scope) -> dict[str, str] | None:
    """The client's request id and W3C trace context, for the upstream request (None: none sent)."""
    out = None
    for name, value in scope["headers"]:
        if name in _TRACE:
            if out is None:
                out = {}
            out[name.decode()] = value.decode("latin-1")
    return out


_PATHS: dict[Kind, str] = {"chat": "/chat/completions", "completions": "/completions", "embeddings": "/embeddings"}


class Gateway(Lifecycle):
    name = "gateway"

    def __init__(self, config: InferenceConfig, registry: EndpointRegistry, node_id: str,
                 auth: BearerToken | None = None, max_body: int = DEFAULT_MAX_BODY, state_dir: Path | None = None,
                 weights_interval: float = 10.0, memory: MemoryChat | None = None) -> None:
        self.config = config
        self.max_body = max_body
        self.registry = registry
        self.node_id = node_id
        self.auth = auth if config.require_auth else None
        routing = config.router
        self.metrics = GatewayMetrics()
        self.memory = memory  # memory-aware model names (hydra/assistant); None: every name is raw
        if memory is not None:
            memory.bind(self.metrics.registry)
        self.selector = Selector(max_in_flight=routing.max_in_flight, sticky_entries=routing.sticky_entries)
        self.queue = WaitQueue(size=routing.queue_size, timeout=routing.queue_timeout, retry_after=routing.retry_after)
        self.cooldowns = Cooldowns(self.selector, self.metrics, base=routing.cooldown_base, cap=routing.cooldown_max,
                                   probe_interval=routing.probe_interval, probe_timeout=routing.connect_timeout + 2.0,
                                   on_change=self._cooling_changed)
        self._keys: dict[str, str] = {}
        self.static = [self._static_info(i, s) for i, s in enumerate(config.endpoints)]
        self.state_dir = state_dir
        self.weights_interval = weights_interval  # how often retrained weights are looked for
        self.router = Router(config, registry.endpoints, usable=self._usable,
                             classifier=AutoClassifier.load(state_dir))
        self.route_log = (RouteLog(records_path(state_dir), override_window=routing.override_window)
                          if state_dir is not None and routing.route_records else None)
        self._weights_mtime = self._mtime()
        self.proxy = Proxy(routing, self.selector, self.cooldowns, self.queue, self.metrics, self.headers_for)
        self._by_id = {i.id: i for i in self.static}
        self._started = False
        self._endpoints: dict[tuple[str, str], Endpoint] | None = None
        registry.add_listener(self._on_endpoint)

    # ---- static endpoints and upstream credentials ----------------------------------------
    def _static_info(self, index: int, s: Any) -> EndpointInfo:
        eid = endpoint_key(self.node_id, s.name or s.model)
        if s.api_key_file is not None:
            self._keys[eid] = read_secret_file(s.api_key_file, f"inference.endpoints[{index}].api_key_file")
        return EndpointInfo(id=eid, model=s.model, engine=s.engine, base_url=s.url, node=self.node_id, tier=s.tier,
                            context_length=s.context_length, aliases=list(s.aliases),
                            completions_only=s.completions_only, embeddings=s.embeddings,
                            max_in_flight=s.max_in_flight, needs_api_key=s.api_key_file is not None)

    def _usable(self, ep: EndpointInfo) -> bool:
        return not ep.needs_api_key or ep.id in self._keys

    def headers_for(self, ep: EndpointInfo) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        key = self._keys.get(ep.id)
        if key:
            h["Authorization"] = f"Bearer {key}"
        return h

    def _live(self, info: EndpointInfo) -> EndpointInfo:
        """A static endpoint's announcement with this gateway's view of its health and load."""
        st = self.selector.stats.get(info.id)
        if st is None:
            return info
        return info.model_copy(update={"health": "down" if st.cooling else "healthy", "in_flight": st.in_flight,
                                       "ewma_latency_ms": st.ewma_ttft_ms, "ewma_tokens_per_s": st.ewma_tps})

    def _cooling_changed(self, ep: EndpointInfo, cooling: bool) -> None:
        if not cooling:
            self.queue.notify()
        base = self._by_id.get(ep.id)
        if base is not None and self._started:  # tell the other gateways now, not at the next refresh
            self.background.spawn(self.registry.announce(base, self._live), f"announce-{ep.id}")

    def _on_endpoint(self, endpoint_id: str, info: EndpointInfo | None) -> None:
        if info is None and endpoint_id in self.selector.stats:
            st = self.selector.stats[endpoint_id]
            if st.in_flight == 0:
                self.selector.forget_endpoint(endpoint_id)
        elif info is not None and len(self.queue):
            self.queue.notify()  # a new endpoint may take waiting requests

    # ---- lifecycle -------------------------------------------------------------------------
    async def _start(self) -> None:
        if self._started:
            return
        session = await self.proxy.start()
        for info in self.static:
            await self.registry.announce(info, self._live)
        self.background.spawn(self.cooldowns.run(session, self.registry.get, self.headers_for), "probe")
        if self.route_log is not None:
            await self.route_log.start()
        if self.state_dir is not None:
            self.background.spawn(self._watch_weights(), "route-weights")
        if self.memory is not None:
            self.memory.start()
        self._started = True

    async def _stop(self) -> None:
        if self.memory is not None:
            await self.memory.stop()
        await self.background.close()
        if self.route_log is not None:
            await self.route_log.stop()
        if self._started:
            for info in self.static:
                await self.registry.withdraw(info.id)
        await self.proxy.stop()
        self._started = False

    def _details(self) -> dict[str, Any]:
        return {
            "endpoints": {eid: st.as_dict() for eid, st in sorted(self.selector.stats.items())},
            "static": [i.id for i in self.static],
            "waiting": len(self.queue),
        }

    # ---- HTTP ----------------------------------------------------------------------------
    def hot_paths(self) -> dict[tuple[str, str], Endpoint]:
        """``(method, path) -> Endpoint`` for :class:`~hydra_os.inference.asgi.HotPaths` (ahead of FastAPI)."""
        if self._endpoints is None:
            guard = self._guard if self.auth is not None else None
            handlers: dict[tuple[str, str], Handler] = {
                ("POST", "/v1/chat/completions"): self._handler("chat"),
                ("POST", "/v1/completions"): self._handler("completions"),
                ("POST", "/v1/embeddings"): self._handler("embeddings"),
                ("GET", "/v1/models"): self._models,
                ("GET", "/metrics"): self._metrics,
            }
            self._endpoints = {k: Endpoint(h, guard=guard, max_body=self.max_body) for k, h in handlers.items()}
        return self._endpoints

    def routes(self) -> Sequence[APIRouter]:
        """The same endpoints as plain routes, for a node API without the :class:`HotPaths` front, and
        ``GET /v1/models/{model}`` (a path parameter, so not a hot path; clients call it once per model)."""
        r = APIRouter()
        for (method, path), ep in self.hot_paths().items():
            r.add_route(path, ep, methods=[method], include_in_schema=False)  # type: ignore[arg-type]
        guard = self._guard if self.auth is not None else None
        one = Endpoint(self._model, guard=guard, max_body=self.max_body)
        # ":path": model ids may hold slashes (hydra/auto, org/model)
        r.add_route("/v1/models/{model:path}", one, methods=["GET"], include_in_schema=False)  # type: ignore[arg-type]
        return [r]

    def _guard(self, scope: Scope) -> Reply | None:
        """The bearer-token check, from the headers alone (before the body is read)."""
        assert self.auth is not None
        if self.auth.allows_scope(scope):
            return None
        return self._error(AuthError(
            "missing or wrong API key: send the node's API token as 'Authorization: Bearer <token>'"))

    def _handler(self, kind: Kind) -> Callable[[Scope, bytes], Awaitable[Reply | StreamReply]]:
        path = _PATHS[kind]

        async def handle(scope: Scope, raw: bytes) -> Reply | StreamReply:
            try:
                body = parse(kind, raw)
                if kind == "chat" and self.memory is not None and self.memory.handles(body.get("model")):
                    trace = _trace_headers(scope)

                    async def forward(sent: dict[str, Any], stream: bool) -> Reply | StreamReply:
                        return await self._route(kind, path, sent, json.dumps(sent).encode(), stream, trace)

                    return await self.memory.handle(scope, body, forward)
                stream = kind != "embeddings" and body.get("stream") is True
                return await self._route(kind, path, body, raw, stream, _trace_headers(scope))
            except InferenceError as e:
                return self._error(e)

        return handle

    async def _route(self, kind: Kind, path: str, body: dict[str, Any], raw: bytes, stream: bool,
                     trace: dict[str, str] | None) -> Reply | StreamReply:
        plan = self.router.plan(kind, body)
        if plan.tier is not None:
            self.metrics.routed.labels(plan.tier).inc()
        turn = self._record(plan, body) if self.route_log is not None else None
        reply = await self.proxy.forward(path, plan, body, raw, stream, trace)
        if turn is not None:  # the handle for feedback on this answer (route-feedback)
            reply.headers = {**reply.headers, "x-hydra-turn": turn}
        return reply

    def model_names(self) -> list[str]:
        """What ``/v1/models`` lists: the router's names and the memory-aware ones (hydra/assistant)."""
        names = self.router.model_names()
        return names + self.memory.model_names() if self.memory is not None else names

    def _record(self, plan: Plan, body: dict[str, Any]) -> str | None:
        """Note a hydra/auto decision (returns its turn id), or a named-model retry of a turn hydra/auto
        routed (no I/O here)."""
        assert self.route_log is not None
        c = plan.classification
        if c is not None:
            return self.route_log.auto(plan.sticky_key, c.ask, c.tier, c.decided_by)
        if plan.named_tier is not None and self.route_log.knows(plan.sticky_key):
            self.route_log.named(plan.sticky_key, read(body)[1], plan.named_tier, plan.requested)
        return None

    def rpc_handlers(self) -> Mapping[str, RpcHandler]:
        """The router's node RPC verbs, each over its params model."""
        return {"route-explain": typed(RouteExplain, self.rpc_explain, bad_request("route-explain")),
                "route-feedback": typed(RouteFeedback, self.rpc_feedback, bad_request("route-feedback"))}

    async def rpc_feedback(self, req: RouteFeedback) -> dict[str, Any]:
        """Node RPC ``route-feedback``: {"turn": <x-hydra-turn>, "tier": the tier the answer wanted}."""
        turn, tier = req.turn, req.tier
        if self.route_log is None:
            raise BadRequestError("route-feedback: route records are off on this node "
                                  "(inference.router.route_records = false)")
        was = self.route_log.feedback(turn, tier)
        return {"recorded": True, "turn": turn, "was": was, "tier": tier}

    # ---- retrained weights -----------------------------------------------------------------
    def _mtime(self) -> float | None:
        if self.state_dir is None:
            return None
        try:
            return state_weights(self.state_dir).stat().st_mtime
        except OSError:
            return None

    async def _watch_weights(self) -> None:
        """Pick up weights written by 'hydra route retrain' without a restart."""
        while True:
            await asyncio.sleep(self.weights_interval)
            mtime = await asyncio.to_thread(self._mtime)
            if mtime != self._weights_mtime:
                self._weights_mtime = mtime
                self.router.classifier = await asyncio.to_thread(AutoClassifier.load, self.state_dir)
                logger.info("gateway: hydra/auto now routes with the {} weights", self.router.classifier.source)

    def _error(self, e: InferenceError) -> Reply:
        self.metrics.client_errors.labels(str(e.http_status)).inc()
        headers: dict[str, str] | None = None
        if isinstance(e, BusyError):
            headers = {"retry-after": str(e.retry_after)}
        elif isinstance(e, AuthError):
            headers = {"www-authenticate": "Bearer"}  # as the node's other routes answer (RFC 6750)
        if e.http_status >= 500:
            logger.warning("gateway: {}", e)
        return Reply(e.http_status, json.dumps(e.to_body()).encode(), headers=headers)

    async def _models(self, scope: Scope, _: bytes) -> Reply:
        now = int(time.time())
        data = [{"id": n, "object": "model", "created": now, "owned_by": "hydra"} for n in self.router.model_names()]
        if self.memory is not None:  # no model of their own: a client (the intake) must not count them as one
            data += [{"id": n, "object": "model", "created": now, "owned_by": MEMORY_OWNER}
                     for n in self.memory.model_names()]
        return Reply(200, json.dumps({"object": "list", "data": data}).encode())

    async def _model(self, scope: Scope, _: bytes) -> Reply:
        """OpenAI's ``GET /v1/models/{model}``: the model object, or 404 ``model_not_found``."""
        name = scope["path_params"]["model"]
        if name not in self.model_names():
            return self._error(ModelNotFoundError(
                f"the model {name!r} does not exist or no endpoint serves it; GET /v1/models lists what is served",
                param="model"))
        body = {"id": name, "object": "model", "created": int(time.time()), "owned_by": "hydra"}
        return Reply(200, json.dumps(body).encode())

    async def _metrics(self, scope: Scope, _: bytes) -> Reply:
        return Reply(200, self.metrics.render(), self.metrics.content_type)

    # ---- explain (RPC) -------------------------------------------------------------------
    def explain(self, body: dict[str, Any], kind: Kind = "chat") -> dict[str, Any]:
        """What the router would do with ``body``, without sending anything or touching stickiness."""
        plan: Plan = self.router.plan(kind, body)
        out: dict[str, Any] = {"model": plan.requested, "reason": plan.reason, "needed_tokens": plan.needed_tokens,
                               "wanted_tokens": plan.wanted_tokens}
        if plan.classification is not None:
            c = plan.classification
            out.update(tier=c.tier, score=c.score, features={k: getattr(c.features, k) for k in c.features.__slots__},
                       probs=c.probs, decided_by=c.decided_by, weights=self.router.classifier.source)
        tried: list[dict[str, Any]] = []
        for g in plan.groups:
            res = self.selector.choose(g.endpoints, needed_tokens=plan.needed_tokens, sticky_key=plan.sticky_key,
                                       remember=False, wanted_tokens=plan.wanted_tokens)
            if isinstance(res, Pick):
                reason = f"{plan.reason} / {res.reason}" if plan.reason else res.reason
                out.update(endpoint=res.endpoint.id, upstream_model=res.endpoint.model,
                           x_hydra_route=route_header(g.tier, res.endpoint, reason))
                out["tier"] = g.tier or res.endpoint.tier
                break
            assert isinstance(res, NoPick)
            tried.append({"group": g.name, "why": res.reason})
        out["skipped"] = tried
        return out

    async def rpc_explain(self, req: RouteExplain) -> dict[str, Any]:
        return self.explain(parse(req.kind, json.dumps(req.body).encode()), req.kind)
