"""The hot path: send a planned request to an endpoint, falling back before the first byte.

For each attempt the :class:`Selector` picks an endpoint of the current group; a connect error, a
timeout, or a dropped connection before the first byte cools that endpoint down (:class:`Cooldowns`),
a 5xx counts towards a cooldown, and the next endpoint is tried, then the next group (tier), at most
``max_tries`` attempts. An error answer that says the request is at fault goes back to the client and
leaves the endpoint alone (:mod:`faults` has the rule). When every eligible endpoint is at its
in-flight limit the request waits in the :class:`WaitQueue`. Bytes are passed through as they come
(the body is only re-serialised when ``model`` must be rewritten for the upstream); a streaming
client that goes away closes the upstream connection, which is how OpenAI-compatible engines learn
to abort the generation.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from hydra_os.inference.accounting import Accounting
from hydra_os.inference.admission import Waiter, WaitQueue
from hydra_os.inference.asgi import Reply, StreamReply
from hydra_os.inference.endpoint import EndpointInfo
from hydra_os.inference.errors import ContextLengthError, NoEndpointError, RejectedError, UpstreamFailure
from hydra_os.inference.faults import Blame, judge
from hydra_os.inference.health import Cooldowns
from hydra_os.inference.metrics import EndpointMetrics, GatewayMetrics
from hydra_os.inference.router import Plan
from hydra_os.inference.selection import NoPick, Pick, Selector
from hydra_os.lifecycle import Background
from hydra_os.sections.inference import RouterConfig

_USAGE_RE = re.compile(rb'"completion_tokens"\s*:\s*(\d+)')
_TOKEN_RE = re.compile(rb'"(?:content|text)"\s*:\s*"(?!")')
_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_PROMPT_FIELD = {"/chat/completions": "messages", "/completions": "prompt", "/embeddings": "input"}


def route_header(tier: str | None, ep: EndpointInfo, reason: str) -> str:
    """``tier=...; endpoint=...; model=...; reason=...`` (the reason is last and runs to the end)."""
    safe = reason.replace("\r", " ").replace("\n", " ").encode("latin-1", "replace").decode("latin-1")
    return f"tier={tier or ep.tier}; endpoint={ep.id}; model={ep.model}; reason={safe}"


@dataclass
class _Attempts:
    """Where the retry loop of one request stands: the group it is on, what it tried, why each failed."""

    group: int = 0
    made: int = 0
    tried: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)  # "<endpoint> <kind>", in order
    notes: list[str] = field(default_factory=list)  # why a group had nothing to offer
    waiter: Waiter | None = None  # in the wait queue (every eligible endpoint busy)
    deadline: float = 0.0


class Proxy:
    def __init__(
        self,
        cfg: RouterConfig,
        selector: Selector,
        cooldowns: Cooldowns,
        queue: WaitQueue,
        metrics: GatewayMetrics,
        headers_for: Callable[[EndpointInfo], dict[str, str]],
    ) -> None:
        self.cfg = cfg
        self.selector = selector
        self.cooldowns = cooldowns
        self.queue = queue
        self.metrics = metrics
        self.headers_for = headers_for
        self.acct = Accounting(selector, cooldowns, queue, metrics, alpha=cfg.ewma_alpha,
                               cool_after_5xx=cfg.cool_after_5xx)
        self.session: aiohttp.ClientSession | None = None
        self._sweeper = Background("gateway")
        self._relays: set[_Relay] = set()  # open streams, for the stall sweeper

    async def start(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60, enable_cleanup_closed=True)
        # no sock_read: aiohttp would re-arm a timer on every chunk; stalled streams are found by
        # the sweeper below, the first byte (and a whole non-streamed answer) by first_byte_timeout
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.cfg.connect_timeout)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                             skip_auto_headers=("User-Agent",))
        self._sweeper.spawn(self._sweep(), "stall-sweeper")
        return self.session

    async def stop(self) -> None:
        await self._sweeper.close()
        if self.session is not None:
            session, self.session = self.session, None
            await session.close()

    async def _sweep(self) -> None:
        """Cut streams whose endpoint sent nothing for ``read_timeout`` seconds (checked 4x as often)."""
        limit = self.cfg.read_timeout
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            now = time.monotonic()
            for relay in [r for r in self._relays if now - r.last > limit]:
                relay.stall(limit)

    # ---- the retry loop: forward -> _pick (admission) -> _attempt (accounting) -> _once/_stream ----------
    async def forward(
        self, path: str, plan: Plan, body: dict[str, Any], raw: bytes, stream: bool,
        trace: dict[str, str] | None = None,
    ) -> Reply | StreamReply:
        """``trace``: the client's ``x-request-id`` / ``traceparent`` / ``tracestate``, sent on upstream."""
        run = _Attempts()
        try:
            while run.made < self.cfg.max_tries and run.group < len(plan.groups):
                pick = await self._pick(plan, run)
                if pick is None:
                    continue
                reply = await self._attempt(path, plan, body, raw, stream, trace, pick, run)
                if reply is not None:
                    return reply
        finally:
            if run.waiter is not None:  # gave up waiting (deadline, or the client left): pass on a wake-up
                self._leave_queue(run, used=False)
        if run.made == 0:
            _check_fits(path, plan)
        why = "; ".join(run.failures + run.notes) or "no endpoints"
        raise NoEndpointError(
            f"no endpoint could serve {plan.requested!r} within {self.cfg.max_tries} tries ({why})"
        )

    async def _pick(self, plan: Plan, run: _Attempts) -> Pick | None:
        """An endpoint of the current group, or None after waiting for one or moving to the next group."""
        group = plan.groups[run.group]
        res = self.selector.choose(group.endpoints, needed_tokens=plan.needed_tokens, sticky_key=plan.sticky_key,
                                   exclude=run.tried, wanted_tokens=plan.wanted_tokens)
        if not isinstance(res, NoPick):
            if run.waiter is not None:
                self._leave_queue(run)
            return res
        if not res.busy:
            run.notes.append(f"{group.name}: {res.reason}")
            run.group += 1
            return None
        if run.waiter is None:  # every eligible endpoint at its in-flight limit: wait in line
            eligible = (e.id for e in group.endpoints if e.id not in run.tried)
            run.waiter = self.queue.join(res.reason, eligible)
            self.metrics.queue_depth.set(len(self.queue))
            run.deadline = time.monotonic() + self.cfg.queue_timeout
        await self.queue.wait(run.waiter, run.deadline, res.reason)
        return None

    def _leave_queue(self, run: _Attempts, used: bool = True) -> None:
        assert run.waiter is not None
        self.queue.leave(run.waiter, used=used)
        run.waiter = None
        self.metrics.queue_depth.set(len(self.queue))

    async def _attempt(
        self, path: str, plan: Plan, body: dict[str, Any], raw: bytes, stream: bool,
        trace: dict[str, str] | None, pick: Pick, run: _Attempts,
    ) -> Reply | StreamReply | None:
        """One try at the picked endpoint: the answer, or None (the failure recorded) to try the next."""
        ep = pick.endpoint
        run.made += 1
        run.tried.add(ep.id)
        reason = f"{plan.reason} / {pick.reason}" if plan.reason else pick.reason
        if run.failures:
            reason += f" / after {', '.join(run.failures)}"
        route = route_header(plan.groups[run.group].tier, ep, reason)
        data = raw if body.get("model") == ep.model else _rewrite(body, ep.model)
        m = self.acct.take(ep)
        try:
            if stream:
                return await self._stream(ep, m, path, data, route, trace)
            return await self._once(ep, m, path, data, route, trace)
        except UpstreamFailure as f:
            self.acct.release(ep, m)
            self.acct.failed(ep, m, f)
            run.failures.append(f"{ep.id} {f.kind}")
            return None

    async def _send(self, ep: EndpointInfo, path: str, data: bytes,
                    trace: dict[str, str] | None) -> aiohttp.ClientResponse:
        assert self.session is not None, "proxy not started"
        headers = self.headers_for(ep)
        if trace:
            headers.update(trace)
        try:
            return await self.session.post(ep.base_url + path, data=data, headers=headers)
        except aiohttp.ClientConnectorError as e:
            raise UpstreamFailure("connect", str(e.os_error or e)) from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as e:
            raise UpstreamFailure("protocol", f"{type(e).__name__}: {e}") from None

    def _refused(self, ep: EndpointInfo, m: EndpointMetrics, path: str, resp: aiohttp.ClientResponse,
                 payload: bytes, route: str) -> Reply:
        """An error answer: the client's (returned, endpoint kept) or the endpoint's (raised); see faults."""
        v = judge(resp.status, payload)
        if v.blame is Blame.BUSY:
            raise UpstreamFailure("http_429", "HTTP 429", cool_down=False)
        if v.blame is Blame.ENDPOINT:
            raise UpstreamFailure("http_5xx", f"HTTP {resp.status} {v.message[:200]}".rstrip(), cool_down=False)
        self.metrics.requests.labels(ep.id, ep.model, "rejected").inc()
        if resp.status < 500:  # the engine's own validation: passed through as it is
            return Reply(resp.status, payload, resp.headers.get("Content-Type", "application/json"),
                         _answer_headers(resp, route))
        msg = v.message or f"the endpoint {ep.id} refused the request (HTTP {resp.status})"
        err = ContextLengthError(msg, param=_PROMPT_FIELD.get(path)) if v.context else RejectedError(msg)
        return Reply(err.http_status, json.dumps(err.to_body()).encode(), headers=_answer_headers(resp, route))

    async def _once(self, ep: EndpointInfo, m: EndpointMetrics, path: str, data: bytes, route: str,
                    trace: dict[str, str] | None) -> Reply:
        t0 = time.perf_counter()
        limit = self.cfg.response_timeout
        try:
            try:
                # one bound for the whole answer: engines send a non-streamed answer's headers only when
                # generation ends, so first_byte_timeout would cut every long generation
                async with asyncio.timeout(limit):
                    resp = await self._send(ep, path, data, trace)
                    payload = await resp.read()
            except TimeoutError:
                raise UpstreamFailure("timeout", f"no whole answer within {limit:g}s (response_timeout)") from None
            except aiohttp.ClientError as e:
                raise UpstreamFailure("protocol", f"{type(e).__name__}: {e}") from None
            refused = self._refused(ep, m, path, resp, payload, route) if resp.status >= 400 else None
        except UpstreamFailure:
            raise
        except BaseException:
            self.acct.release(ep, m)
            raise
        self.acct.release(ep, m)
        if refused is not None:
            return refused
        dt = time.perf_counter() - t0
        self.acct.first_byte(ep, dt)
        self.acct.succeeded(ep, m)
        u = _USAGE_RE.search(payload)
        if u is not None and dt > 0:
            n = int(u.group(1))
            self.acct.generated(ep, m, n, n / dt if n else None)
        ctype = resp.headers.get("Content-Type", "application/json")
        return Reply(resp.status, payload, ctype, _answer_headers(resp, route))

    async def _stream(
        self, ep: EndpointInfo, m: EndpointMetrics, path: str, data: bytes, route: str,
        trace: dict[str, str] | None,
    ) -> Reply | StreamReply:
        t0 = time.perf_counter()
        resp: aiohttp.ClientResponse | None = None
        try:
            try:
                async with asyncio.timeout(self.cfg.first_byte_timeout):
                    resp = await self._send(ep, path, data, trace)
                    if resp.status >= 400:
                        refused = self._refused(ep, m, path, resp, await resp.read(), route)
                        self.acct.release(ep, m)
                        return refused
                    first = await resp.content.readany()
            except TimeoutError:
                raise UpstreamFailure("timeout", f"no first byte within {self.cfg.first_byte_timeout:g}s") from None
            except aiohttp.ClientError as e:
                raise UpstreamFailure("protocol", f"{type(e).__name__}: {e}") from None
            if not first:
                raise UpstreamFailure("protocol", "connection closed before the first byte")
        except UpstreamFailure:
            if resp is not None:
                resp.close()
            raise
        except BaseException:
            if resp is not None:
                resp.close()
            self.acct.release(ep, m)
            raise
        ttft = time.perf_counter() - t0
        self.acct.first_byte(ep, ttft)
        m.ttft.observe(ttft)
        ctype = resp.headers.get("Content-Type", "text/event-stream")
        headers = {**_STREAM_HEADERS, **_answer_headers(resp, route)}
        return StreamReply(resp.status, _Relay(self.acct, self._relays, ep, m, resp, first, t0 + ttft), ctype, headers)


class _Relay:
    """The chunks of one upstream stream, passed on as they come (an async iterator for StreamReply).

    The first chunk was read before the response started; each later one is one ``readany()``. It
    counts output tokens (``usage`` from the last chunks when the endpoint sends it, else content
    deltas), notes when the endpoint last sent something (the proxy's sweeper cuts a stream silent
    for ``read_timeout``), and settles in-flight accounting exactly once: at the end of the stream,
    on an upstream error (an OpenAI-shaped error event is sent as the last chunk), or in
    :meth:`aclose` — also when the client left before the first chunk was asked for.
    """

    __slots__ = ("acct", "ep", "first", "last", "live", "m", "prev", "resp", "settled", "stalled", "t_first",
                 "tail", "tokens")

    def __init__(self, acct: Accounting, live: set[_Relay], ep: EndpointInfo, m: EndpointMetrics,
                 resp: aiohttp.ClientResponse, first: bytes, t_first: float) -> None:
        self.acct, self.live, self.ep, self.m, self.resp = acct, live, ep, m, resp
        self.first: bytes | None = first
        self.t_first = t_first
        self.tokens = 0
        self.prev = self.tail = b""  # the last two chunks: where a final usage object is
        self.last = time.monotonic()
        self.settled = False
        self.stalled = 0.0
        live.add(self)  # the proxy's open streams: its sweeper finds this one if it stalls

    def __aiter__(self) -> _Relay:
        return self

    def _seen(self, chunk: bytes) -> bytes:
        self.tokens += len(_TOKEN_RE.findall(chunk))
        self.prev, self.tail = self.tail, chunk
        return chunk

    async def __anext__(self) -> bytes:
        if self.first is not None:
            chunk, self.first = self.first, None
            return self._seen(chunk)
        if self.settled:
            raise StopAsyncIteration
        try:
            chunk = await self.resp.content.readany()
        except (aiohttp.ClientError, TimeoutError) as e:
            return self._broken(e)
        if not chunk:
            self._finished()
            raise StopAsyncIteration
        self.last = time.monotonic()
        return self._seen(chunk)

    def stall(self, limit: float) -> None:
        """Called by the sweeper: the endpoint sent nothing for ``limit`` seconds; the read fails."""
        self.stalled = limit
        self.resp.close()

    def _settle(self, ok: bool) -> None:
        self.settled = True
        self.live.discard(self)
        if ok:
            self.resp.release()
        else:
            self.resp.close()  # client went away or upstream broke: drop the upstream connection
        self.acct.release(self.ep, self.m)

    def _finished(self) -> None:
        self._settle(True)
        self.acct.succeeded(self.ep, self.m)
        u = _USAGE_RE.search(self.prev + self.tail)
        n = int(u.group(1)) if u else self.tokens
        dt = time.perf_counter() - self.t_first
        self.acct.generated(self.ep, self.m, n, (n - 1) / dt if n > 1 and dt > 0 else None)

    def _broken(self, e: BaseException) -> bytes:
        self._settle(False)
        if self.stalled:
            failure = UpstreamFailure("stalled", f"nothing for {self.stalled:g}s (read_timeout)")
            what = f"sent nothing for {self.stalled:g}s"
        else:
            failure = UpstreamFailure("stream_broken", f"{type(e).__name__}: {e}")
            what = f"failed mid-stream ({type(e).__name__})"
        self.acct.failed(self.ep, self.m, failure)
        err = {"error": {"message": f"the endpoint {self.ep.id} {what}", "type": "server_error", "param": None,
                         "code": "upstream_failed"}}
        return b"data: " + json.dumps(err).encode() + b"\n\n"

    async def aclose(self) -> None:
        if not self.settled:
            self._settle(False)


def _answer_headers(resp: aiohttp.ClientResponse, route: str) -> dict[str, str]:
    """``x-hydra-route`` and what the client may want from the engine's own headers: its request id
    and rate-limit state (``x-ratelimit-*``, as OpenAI and hosted APIs send them)."""
    out = {"x-hydra-route": route}
    for name, value in resp.headers.items():
        low = name.lower()
        if low == "x-request-id" or low.startswith("x-ratelimit-"):
            out[low] = value
    return out


def _check_fits(path: str, plan: Plan) -> None:
    """OpenAI's 400 ``context_length_exceeded`` when the prompt is longer than every endpoint's context
    (not a 503: no endpoint will ever serve it). Only on the way to an error, so off the hot path."""
    largest = max((ep.context_length for g in plan.groups for ep in g.endpoints), default=0)
    if largest and plan.needed_tokens > largest:
        raise ContextLengthError(
            f"the prompt (about {plan.needed_tokens} tokens) is longer than the context of every endpoint that "
            f"serves {plan.requested!r} (the largest holds {largest} tokens); shorten the messages",
            param=_PROMPT_FIELD.get(path),
        )


def _rewrite(body: dict[str, Any], model: str) -> bytes:
    out = dict(body)
    out["model"] = model
    return json.dumps(out, separators=(",", ":")).encode()

