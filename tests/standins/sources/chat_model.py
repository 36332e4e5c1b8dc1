"""A stand-in chat model behind an OpenAI-compatible API (real HTTP, aiohttp.web), for the intake,
research and briefing tests. What a real model would write is produced from the request itself:

- ``response_format.json_schema.name == "intake_classification"``: an intent read off the request
  (``continue``/``generate`` -> pipeline creative, ``look``/``find`` -> task research, else answer);
- ``"research_plan"``: two queries made of the topic's words;
- ``"research_report"``: a Markdown report citing sources [1] and [2] (and a bogus [99]) that names
  the capitalised words of the sources as entities;
- ``"creative_dialogue"``: two lines per character of the ``Scene JSON:`` in the request, in their
  order, naming the outline, plus a narrator line;
- no schema: ``"Answer: <last user message>"`` (a briefing opening when the system prompt asks for one).

``POST /_control {"reply": {"<schema name or 'chat'>": "<raw content>"}, "status": {"<name>": 503}}``
overrides one kind of reply (a list: one reply per request, in order, then the default);
``GET /_log`` returns every request body; ``POST /_reset``.
``GET /v1/models`` lists ``standin-chat`` (or nothing after ``{"models": []}``).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.standins.aio import AioStandin


def _classify(text: str) -> dict[str, Any]:
    t = text.lower()
    if t.startswith(("continue", "generate")):
        return {"intent": "pipeline", "kind": "creative", "subject": text, "question": "", "confidence": 0.8}
    if t.startswith(("look", "find")):
        subject = re.sub(r"^(look into|look at|find out about|find)\s+", "", text, flags=re.I)
        return {"intent": "task", "kind": "research", "subject": subject, "question": "", "confidence": 0.8}
    return {"intent": "answer", "kind": "", "subject": text, "question": "", "confidence": 0.7}


def _dialogue(user: str) -> dict[str, Any]:
    scene = json.loads(user.split("Scene JSON:", 1)[1])
    lines = [{"speaker": "narrator", "text": f"{scene['title']}.", "expression": "", "direction": ""}]
    for turn in range(2):
        for c in scene["characters"]:
            lines.append({"speaker": c["id"], "text": f"{c['name']} ({turn + 1}): {scene['outline']}",
                          "expression": "neutral" if turn == 0 else "determined", "direction": ""})
    return {"lines": lines, "choices": []}


def _report(user: str) -> dict[str, Any]:
    titles = re.findall(r"^\[\d+\] (.+)$", user, flags=re.M)
    names = sorted({w for t in titles for w in re.findall(r"\b([A-Z][A-Za-z0-9]+(?:V\d)?)\b", t)
                    if w not in {"The", "How", "With", "And", "Running", "Benchmarking", "Notes", "We"}})
    report = ("## What changed\n\nExLlamaV3 shipped a first release with the EXL3 format [1]. "
              "On two GPUs it generated 31 tokens per second on a 70B model [2].\n\n"
              "## Open questions\n\nLong-context behaviour is not covered by these sources [99].")
    return {"summary": "ExLlamaV3 released EXL3 quantisation [1] and is faster than llama.cpp on 70B [2].",
            "report": report, "entities": [{"name": n, "type": "project"} for n in names[:6]]}


@dataclass
class ChatStandin(AioStandin):
    host: str = "127.0.0.1"
    port: int = 0
    models: list[str] = field(default_factory=lambda: ["standin-chat"])
    replies: dict[str, str | list[str]] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/_control", self._control)
        app.router.add_get("/_log", self._get_log)
        app.router.add_post("/_reset", self._reset)
        return app

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.log.append(body)
        schema = (body.get("response_format") or {}).get("json_schema", {}).get("name") or "chat"
        if schema in self.statuses:
            return web.json_response({"error": {"message": "scripted failure"}}, status=self.statuses[schema])
        msgs = body.get("messages", [])
        user = next((m["content"] for m in reversed(msgs) if m.get("role") == "user"), "")
        system = next((m["content"] for m in msgs if m.get("role") == "system"), "")
        scripted: Any = self.replies.get(schema)
        if isinstance(scripted, list) and not scripted:
            scripted = None
        if scripted is not None:
            content = scripted.pop(0) if isinstance(scripted, list) else scripted
        elif schema == "creative_dialogue":  # the scene is in the first user message (later ones: retries)
            content = json.dumps(_dialogue(next(m["content"] for m in msgs if m.get("role") == "user")))
        elif schema == "intake_classification":
            content = json.dumps(_classify(user.split("Request:", 1)[-1].strip()))
        elif schema == "research_plan":
            topic = user.split("Topic:", 1)[-1].strip()
            content = json.dumps({"queries": [topic, f"{topic} release notes"]})
        elif schema == "research_report":
            content = json.dumps(_report(user))
        elif "opening" in system.lower():
            content = "Good morning. Overnight work finished and one thing waits for you."
        else:
            content = f"Answer: {user}"
        return web.json_response({
            "id": "chatcmpl-standin", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"), "choices": [{"index": 0, "finish_reason": "stop",
                                                     "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})

    async def _control(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.replies.update(body.get("reply", {}))
        self.statuses.update({k: int(v) for k, v in body.get("status", {}).items()})
        if "models" in body:
            self.models = list(body["models"])
        return web.json_response({})

    async def _get_log(self, request: web.Request) -> web.Response:
        return web.json_response(self.log)

    async def _reset(self, request: web.Request) -> web.Response:
        self.replies.clear()
        self.statuses.clear()
        self.log.clear()
        self.models = ["standin-chat"]
        return web.json_response({})


if __name__ == "__main__":
    import argparse
    import asyncio

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()

    async def main() -> None:
        async with ChatStandin(port=args.port) as s:
            print(f"LISTENING {s.port}", flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())
