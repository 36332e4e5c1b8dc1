"""A stand-in OpenAI-compatible server (what vLLM, llama-server or TabbyAPI look like at the HTTP boundary).

Real HTTP on loopback (aiohttp.web): ``GET /v1/models``, ``GET /health``, ``POST /v1/chat/completions``,
``/v1/completions`` (non-streaming JSON and SSE streaming, ``usage`` included, ``stream_options.
include_usage`` honoured) and ``/v1/embeddings``. Behaviour is scripted over HTTP so tests and the bench
drive it from outside the process:

- ``POST /_control {"defaults": {...}}`` sets the behaviour of every request: ``tokens`` (chunks to
  stream), ``token_interval`` (seconds between chunks), ``first_byte_delay`` (seconds before anything),
  ``body_delay`` (non-streamed: send the headers at once, the body this many seconds later),
  ``text_only`` (a chat message with an image part gets llama-server's 500 "image input is not
  supported", as a text-only llama-server answers), ``dims`` (length of each embedding vector).
- ``POST /_control {"script": [{...}, ...]}`` queues one action per coming request: ``{"status": 503}``
  (answer that status at once; with ``"message"`` and ``"type"``: that error body),
  ``{"delay": 5}`` (sleep before the first byte), ``{"drop": true}``
  (close the connection without answering), ``{"die_after": 2}`` (stream 2 chunks then cut the
  connection), ``{"stall_after": 2}`` (stream 2 chunks then send nothing more, connection open), or
  any of the defaults' keys for that request only.
- ``GET /_log`` lists every request seen: path, model, stream, and whether the client went away
  before the end (``cancelled``). ``POST /_reset`` clears script and log.

Run: ``python -m tests.standins.openai_server --model NAME [--model ...] [--port 0] [--name ID]``;
prints ``LISTENING <port>`` once bound. Or in-process: ``async with StandinServer(...) as s``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from tests.standins.aio import AioStandin

_DEFAULTS: dict[str, Any] = {"tokens": 8, "token_interval": 0.0, "first_byte_delay": 0.0, "body_delay": 0.0,
                             "text_only": False, "dims": 3}
# what a text-only llama-server answers to an image part (HTTP 500, its error shape)
_NO_IMAGES = {"error": {"code": 500, "type": "server_error",
                        "message": "image input is not supported - hint: if this is unexpected, you may need to "
                                   "provide the mmproj"}}


@dataclass
class StandinServer(AioStandin):
    runner_options: ClassVar[dict[str, Any]] = {"handler_cancellation": True, "access_log": None}
    backlog: ClassVar[int] = 1024

    models: list[str]
    name: str = "standin"
    host: str = "127.0.0.1"
    port: int = 0
    defaults: dict[str, Any] = field(default_factory=lambda: dict(_DEFAULTS))
    script: list[dict[str, Any]] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/health", self._health)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._generate)
        app.router.add_post("/v1/completions", self._generate)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/_control", self._control)
        app.router.add_post("/_reset", self._reset)
        app.router.add_get("/_log", self._log)
        return app

    # ---- handlers -------------------------------------------------------------------
    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _models(self, _: web.Request) -> web.Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": self.name} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _control(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.defaults.update(body.get("defaults", {}))
        self.script.extend(body.get("script", []))
        return web.json_response({"defaults": self.defaults, "script": self.script})

    async def _reset(self, _: web.Request) -> web.Response:
        self.script.clear()
        self.log.clear()
        self.defaults = dict(_DEFAULTS)
        return web.json_response({"ok": True})

    async def _log(self, _: web.Request) -> web.Response:
        return web.json_response(self.log)

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        entry = {"path": request.path, "model": body.get("model"), "stream": False, "cancelled": False,
                 "auth": request.headers.get("Authorization")}
        self.log.append(entry)
        action = self.script.pop(0) if self.script else {}
        if action.get("drop"):
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        if "status" in action:
            return _error(action)
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        dims = int(action.get("dims", self.defaults["dims"]))
        data = [{"object": "embedding", "index": i, "embedding": [0.1] * (dims - 1) + [float(len(str(x)))]}
                for i, x in enumerate(items)]
        n = sum(len(str(x).split()) for x in items)
        return web.json_response({"object": "list", "data": data, "model": body.get("model"),
                                  "usage": {"prompt_tokens": n, "total_tokens": n}})

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw)
        chat = request.path.endswith("/chat/completions")
        stream = bool(body.get("stream"))
        entry: dict[str, Any] = {"path": request.path, "model": body.get("model"), "stream": stream,
                                 "cancelled": False, "finished": False, "auth": request.headers.get("Authorization"),
                                 "body": body, "headers": dict(request.headers)}
        self.log.append(entry)
        cfg = dict(self.defaults)
        action = self.script.pop(0) if self.script else {}
        cfg.update({k: v for k, v in action.items() if k in _DEFAULTS})
        try:
            if action.get("drop"):
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=500)
            if "status" in action:
                return _error(action)
            if cfg["text_only"] and chat and _has_image(body):
                return web.json_response(_NO_IMAGES, status=500)
            delay = float(action.get("delay", cfg["first_byte_delay"]))
            if delay:
                await asyncio.sleep(delay)
            n = int(body.get("max_tokens") or cfg["tokens"])
            n = min(n, int(cfg["tokens"]))
            prompt_tokens = _count_prompt(body)
            if not stream:
                text = " ".join(f"{self.name}-t{i}" for i in range(n))
                answer = json.dumps(_full(body.get("model"), chat, text, prompt_tokens, n)).encode()
                if cfg["body_delay"]:  # headers now, the body later (what a proxy in front of an engine may do)
                    resp = web.StreamResponse(headers=_ANSWER_HEADERS)
                    resp.content_length = len(answer)
                    await resp.prepare(request)
                    await asyncio.sleep(float(cfg["body_delay"]))
                    await resp.write(answer)
                    await resp.write_eof()
                    entry["finished"] = True
                    return resp
                entry["finished"] = True
                return web.Response(body=answer, headers=_ANSWER_HEADERS)
            return await self._stream(request, body, chat, n, prompt_tokens, float(cfg["token_interval"]),
                                      action.get("die_after"), entry, action.get("stall_after"))
        except asyncio.CancelledError:
            entry["cancelled"] = True
            raise

    async def _stream(self, request: web.Request, body: dict[str, Any], chat: bool, n: int, prompt_tokens: int,
                      interval: float, die_after: int | None, entry: dict[str, Any],
                      stall_after: int | None = None) -> web.StreamResponse:
        resp = web.StreamResponse(headers={**_ANSWER_HEADERS, "Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(request)
        cid = "cmpl-" + uuid.uuid4().hex[:12]
        model = body.get("model")
        try:
            for i in range(n):
                if die_after is not None and i >= int(die_after):
                    assert request.transport is not None
                    request.transport.close()
                    return resp
                if stall_after is not None and i >= int(stall_after):
                    await asyncio.Event().wait()  # silent until the client goes away
                if interval and i:
                    await asyncio.sleep(interval)
                await resp.write(b"data: " + json.dumps(_chunk(cid, model, chat, f"{self.name}-t{i} ", None))
                                 .encode() + b"\n\n")
            await resp.write(b"data: " + json.dumps(_chunk(cid, model, chat, "", "stop")).encode() + b"\n\n")
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}
                final = {"id": cid, "object": "chat.completion.chunk" if chat else "text_completion",
                         "created": int(time.time()), "model": model, "choices": [], "usage": usage}
                await resp.write(b"data: " + json.dumps(final).encode() + b"\n\n")
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            entry["finished"] = True
        except (ConnectionResetError, asyncio.CancelledError):
            entry["cancelled"] = True
            raise
        return resp


# an engine's own request id and rate-limit headers (the gateway passes them back to the client)
_ANSWER_HEADERS = {"Content-Type": "application/json", "x-request-id": "standin-req-1",
                   "x-ratelimit-remaining-requests": "99"}


def _error(action: dict[str, Any]) -> web.Response:
    status = int(action["status"])
    err = {"message": action.get("message", f"scripted failure {status}"), "type": action.get("type", "server_error"),
           "param": None, "code": None}
    return web.json_response({"error": err}, status=status)


def _has_image(body: dict[str, Any]) -> bool:
    return any(isinstance(m, dict) and isinstance(m.get("content"), list)
               and any(isinstance(p, dict) and p.get("type") == "image_url" for p in m["content"])
               for m in body.get("messages") or [])


def _count_prompt(body: dict[str, Any]) -> int:
    if "messages" in body:
        return sum(len(str(m.get("content", "")).split()) for m in body["messages"] if isinstance(m, dict))
    return len(str(body.get("prompt", "")).split())


def _full(model: Any, chat: bool, text: str, prompt_tokens: int, n: int) -> dict[str, Any]:
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}
    if chat:
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"}
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
        obj = "text_completion"
    return {"id": "cmpl-" + uuid.uuid4().hex[:12], "object": obj, "created": int(time.time()), "model": model,
            "choices": [choice], "usage": usage}


def _chunk(cid: str, model: Any, chat: bool, text: str, finish: str | None) -> dict[str, Any]:
    if chat:
        choice: dict[str, Any] = {"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}
        obj = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
        obj = "text_completion"
    return {"id": cid, "object": obj, "created": int(time.time()), "model": model, "choices": [choice]}


async def _main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", action="append", required=True)
    p.add_argument("--name", default="standin")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--tokens", type=int, default=_DEFAULTS["tokens"])
    p.add_argument("--token-interval", type=float, default=0.0)
    a = p.parse_args(argv)
    srv = StandinServer(a.model, name=a.name, host=a.host, port=a.port)
    srv.defaults.update({"tokens": a.tokens, "token_interval": a.token_interval})
    await srv.start()
    print(f"LISTENING {srv.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await srv.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        try:
            import uvloop

            uvloop.run(_main(sys.argv[1:]))
        except ImportError:
            asyncio.run(_main(sys.argv[1:]))
