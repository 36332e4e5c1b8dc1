"""A stand-in OpenAI-compatible chat endpoint for memory extraction tests.

``python -m tests.memory.chat_standin --port N [--mode ok|garbage|error]`` serves
``POST /v1/chat/completions`` the way an OpenAI-compatible server does (``choices[0].message.content``).
With ``response_format.type == "json_schema"`` it answers JSON extracted from the user message by a
fixed rule: each sentence ``<Subject> <verb words> <Object>.`` with a capitalised subject and object
becomes one relation (``Sam works on Starfall.`` -> Sam works_on Starfall). ``GET /_standin/requests``
returns every request body received.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException

SENTENCE = re.compile(r"([A-Z][\w']*(?: [A-Z][\w']*)*) ((?:[a-z]+ ?)+) ([A-Z][\w']*(?: [A-Z][\w']*)*)\.")


def extract(text: str) -> dict[str, Any]:
    entities: dict[str, dict[str, str]] = {}
    relations = []
    for subj, verb, obj in SENTENCE.findall(text):
        for name in (subj, obj):
            entities.setdefault(name, {"name": name, "type": "thing"})
        relations.append({"subject": subj, "relation": verb.strip(), "object": obj, "confidence": 0.9})
    return {"entities": list(entities.values()), "relations": relations}


def create_app(mode: str) -> FastAPI:
    app = FastAPI()
    seen: list[dict[str, Any]] = []

    @app.post("/v1/chat/completions")
    async def chat(body: dict[str, Any]) -> dict[str, Any]:
        seen.append(body)
        if mode == "error":
            raise HTTPException(503, "no model loaded")
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        if mode == "garbage" or (body.get("response_format") or {}).get("type") != "json_schema":
            content = "Sure! Here are the entities: ..."
        else:
            content = json.dumps(extract(user))
        return {
            "id": "chatcmpl-standin", "object": "chat.completion", "model": body.get("model", "x"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    @app.get("/_standin/requests")
    async def requests() -> list[dict[str, Any]]:
        return seen

    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", default="ok", choices=["ok", "garbage", "error"])
    args = ap.parse_args()
    uvicorn.run(create_app(args.mode), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
