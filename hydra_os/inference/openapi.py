"""OpenAPI description of the gateway's routes, merged into the node API's ``/openapi.json``.

The OpenAI-compatible routes are bare ASGI endpoints served ahead of FastAPI
(:class:`~hydra_os.inference.asgi.HotPaths`), so FastAPI cannot describe them by itself. This module
writes their path items by hand from the same pydantic models the gateway validates requests with
(:mod:`hydra_os.inference.requests`), so the documented request bodies are the enforced ones.
Responses are OpenAI's objects, passed through from the endpoint; only their outline is given here.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from hydra_os.api.docs import OPENAI_ERROR
from hydra_os.inference.requests import ChatRequest, CompletionRequest, EmbeddingRequest

_REF = "#/components/schemas/{model}"

_ROUTE_HEADER = {
    "x-hydra-route": {
        "description": "tier=...; endpoint=...; model=...; reason=... (why this endpoint served the request)",
        "schema": {"type": "string"},
    }
}


def _errors(*codes: int) -> dict[str, Any]:
    what = {
        400: "Malformed body; `error.param` names the field.",
        401: "Missing or wrong bearer token (send the node's API token as the OpenAI API key).",
        413: "The body is larger than api.max_body_bytes.",
        404: "No model or alias by that name is served (`error.code` model_not_found).",
        429: "Every endpoint busy and the wait queue full or timed out; see Retry-After.",
        503: "No endpoint could serve the request within the configured tries.",
    }
    ref = {"$ref": _REF.format(model="OpenAIError")}
    out = {str(c): {"description": what[c], "content": {"application/json": {"schema": ref}}} for c in codes}
    if 401 in codes:
        out["401"]["headers"] = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}
    return out


def _generate(summary: str, model: str, note: str) -> dict[str, Any]:
    return {
        "post": {
            "tags": ["inference"],
            "summary": summary,
            "description": note,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}},
            },
            "responses": {
                "200": {
                    "description": "The endpoint's answer, passed through (with `usage`).",
                    "headers": _ROUTE_HEADER,
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                **_errors(400, 401, 404, 413, 429, 503),
            },
            "security": [{"HTTPBearer": []}],
        }
    }


def openapi_extra() -> dict[str, Any]:
    """``{"paths": ..., "components": {"schemas": ...}}`` for the gateway's routes."""
    _, defs = models_json_schema(
        [(ChatRequest, "validation"), (CompletionRequest, "validation"), (EmbeddingRequest, "validation")],
        ref_template=_REF,
    )
    schemas: dict[str, Any] = {**defs["$defs"], "OpenAIError": OPENAI_ERROR}
    gen = (
        "`model` may name a model, an alias from config, or `hydra/auto` (a tier chosen by the request's "
        "complexity). With `stream: true` the answer is server-sent events, relayed chunk by chunk."
    )
    emb = "`model` may name an embedding model, an alias, or `hydra/auto` (any embedding endpoint)."
    paths: dict[str, Any] = {
        "/v1/chat/completions": _generate("Chat completion (OpenAI wire format)", "ChatRequest", gen),
        "/v1/completions": _generate("Text completion (OpenAI wire format)", "CompletionRequest", gen),
        "/v1/embeddings": _generate("Embeddings (OpenAI wire format)", "EmbeddingRequest", emb),
        "/v1/models": {
            "get": {
                "tags": ["inference"],
                "summary": "Models, aliases and tiers this gateway can route to",
                "responses": {"200": {"description": "OpenAI's model list"}, **_errors(401)},
                "security": [{"HTTPBearer": []}],
            }
        },
        "/v1/models/{model}": {
            "get": {
                "tags": ["inference"],
                "summary": "One model, alias or hydra/auto (OpenAI's model object)",
                "parameters": [{"name": "model", "in": "path", "required": True, "schema": {"type": "string"},
                                "description": "A model id, an alias or hydra/auto (may contain '/')."}],
                "responses": {"200": {"description": "OpenAI's model object"}, **_errors(401, 404)},
                "security": [{"HTTPBearer": []}],
            }
        },
        "/metrics": {
            "get": {
                "tags": ["inference"],
                "summary": "Prometheus metrics of the gateway",
                "responses": {
                    "200": {"description": "Prometheus text format", "content": {"text/plain": {}}},
                    **_errors(401),
                },
                "security": [{"HTTPBearer": []}],
            }
        },
    }
    return {"paths": paths, "components": {"schemas": schemas}}
