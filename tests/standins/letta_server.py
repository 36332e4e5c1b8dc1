"""A stand-in Letta server for exactly the blocks calls Hydra's Letta backend makes.

``python -m tests.standins.letta_server --port N [--api-key K]`` serves:

- ``GET /v1/blocks/`` with ``label``, ``tags`` (any of; all with ``match_all_tags``), ``limit``,
  ``after``/``before`` (block-id cursors), ``order`` — a JSON array, oldest first, like Letta.
- ``GET /v1/blocks/{id}``, ``POST /v1/blocks/``, ``PATCH /v1/blocks/{id}``, ``DELETE /v1/blocks/{id}``.
- Letta's validation: a value longer than the block's limit is refused (HTTP 400), ids look like
  ``block-<uuid4>``, unknown ids are 404 with ``{"detail": ...}``.

``GET /_standin/calls`` lists the ``METHOD path`` of every call received (for tests to check what the
client really sent). State lives in memory; the process is the server.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse


def create_app(api_key: str | None = None) -> FastAPI:
    app = FastAPI()
    blocks: dict[str, dict[str, Any]] = {}  # insertion order = creation order
    calls: list[str] = []

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        if not request.url.path.startswith("/_standin"):
            calls.append(f"{request.method} {request.url.path}")
            if api_key and request.headers.get("authorization") != f"Bearer {api_key}":
                return JSONResponse({"detail": "Unauthorized"}, status_code=401)
        return await call_next(request)

    def check(b: dict[str, Any]) -> None:
        limit = b.get("limit") or 20000
        if len(b.get("value") or "") > limit:
            raise HTTPException(
                400, f"Edit failed: Exceeds {limit} character limit (requested {len(b['value'])})"
            )

    def get(block_id: str) -> dict[str, Any]:
        if block_id not in blocks:
            raise HTTPException(404, f"Block with id '{block_id}' not found")
        return blocks[block_id]

    @app.get("/v1/blocks/")
    async def list_blocks(
        label: str | None = None,
        tags: list[str] | None = Query(default=None),  # noqa: B008 - FastAPI's declaration style
        match_all_tags: bool = False,
        limit: int = 50,
        after: str | None = None,
        before: str | None = None,
        order: str = "asc",
    ) -> list[dict[str, Any]]:
        items = list(blocks.values())
        if order == "desc":
            items.reverse()
        if after is not None:
            ids = [b["id"] for b in items]
            items = items[ids.index(after) + 1:] if after in ids else []
        if before is not None:
            ids = [b["id"] for b in items]
            items = items[: ids.index(before)] if before in ids else []
        if label is not None:
            items = [b for b in items if b["label"] == label]
        if tags:
            want = set(tags)
            items = [
                b for b in items
                if (want <= set(b["tags"]) if match_all_tags else want & set(b["tags"]))
            ]
        return items[:limit]

    @app.get("/v1/blocks/{block_id}")
    async def retrieve(block_id: str) -> dict[str, Any]:
        return get(block_id)

    @app.post("/v1/blocks/")
    async def create(body: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body.get("label"), str) or not isinstance(body.get("value"), str):
            raise HTTPException(422, "label and value are required strings")
        b = {
            "id": f"block-{uuid.uuid4()}",
            "label": body["label"],
            "value": body["value"],
            "limit": body.get("limit") or 20000,
            "description": body.get("description"),
            "read_only": bool(body.get("read_only", False)),
            "metadata": body.get("metadata") or {},
            "tags": list(body.get("tags") or []),
            "is_template": bool(body.get("is_template", False)),
            "created_at": datetime.now(UTC).isoformat(),
        }
        check(b)
        blocks[b["id"]] = b
        return b

    @app.patch("/v1/blocks/{block_id}")
    async def update(block_id: str, body: dict[str, Any]) -> dict[str, Any]:
        b = dict(get(block_id))
        for k in ("label", "value", "limit", "description", "read_only", "metadata", "tags"):
            if k in body:
                b[k] = body[k]
        check(b)
        blocks[block_id] = b
        return b

    @app.delete("/v1/blocks/{block_id}")
    async def delete(block_id: str) -> dict[str, Any]:
        get(block_id)
        del blocks[block_id]
        return {}

    @app.get("/_standin/calls")
    async def seen() -> list[str]:
        return calls

    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--api-key")
    args = ap.parse_args()
    uvicorn.run(create_app(args.api_key), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
