"""What every node route may answer besides its own results, written once into ``/openapi.json``.

FastAPI documents a route's 200 and its 422; the node's routes also answer 401 (no or wrong token,
with ``WWW-Authenticate: Bearer``), 413 (body over ``api.max_body_bytes``), 400 (a body that is not
JSON), 404 (an id in the path that names nothing) and, where a route says so, 409 (:data:`CONFLICT`).
:func:`document_errors` adds them to every operation after FastAPI has built its schema, so a route
cannot forget one and clients (and schemathesis) see what they will get.

:func:`validation_shape` keeps 422 bodies in the one documented shape (``HTTPValidationError``): routes
that raise ``HTTPException(422, "field: what is wrong")`` get it as ``{"detail": [{"loc", "msg",
"type"}]}``, the field in ``loc`` (:func:`field_errors`; the one ``HydraError`` handler in
:mod:`hydra_os.api.app` answers a 422 error the same way).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response

OPENAI_ERROR: dict[str, Any] = {
    "type": "object",
    "description": "OpenAI's error shape (the gateway's routes, and 413 on every route).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"], "description": "the field at fault, e.g. messages.1.role"},
                "code": {"type": ["string", "null"]},
            },
            "required": ["message", "type"],
        }
    },
    "required": ["error"],
}
HTTP_ERROR: dict[str, Any] = {
    "type": "object",
    "description": "A node route's error: what went wrong, in words; a deliberate error also says its stable code.",
    "properties": {
        "detail": {"type": "string"},
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "stable snake_case, e.g. task_not_found"},
                           "message": {"type": "string"}},
            "required": ["code", "message"],
        },
    },
    "required": ["detail"],
}
_REF = "#/components/schemas/{}"
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "The resource is not in a state that allows this (e.g. already finished).",
          "content": {"application/json": {"schema": {"$ref": _REF.format("HTTPError")}}}},
}
_OPEN = frozenset({"/healthz", "/readyz"})


def _answer(description: str, schema: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description,
                           "content": {"application/json": {"schema": {"$ref": _REF.format(schema)}}}}
    if headers:
        out["headers"] = headers
    return out


def document_errors(schema: dict[str, Any]) -> None:
    """Add the answers every route may give (see the module doc) to each operation of ``schema``."""
    comps = schema.setdefault("components", {})
    schemas = comps.setdefault("schemas", {})
    schemas.setdefault("HTTPError", HTTP_ERROR)
    schemas.setdefault("OpenAIError", OPENAI_ERROR)
    scheme = {"type": "http", "scheme": "bearer", "description": "The token from the node's api-token file."}
    comps.setdefault("securitySchemes", {}).setdefault("HTTPBearer", scheme)
    www = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}
    for path, item in schema.get("paths", {}).items():
        for op in item.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            if path not in _OPEN:
                op.setdefault("security", [{"HTTPBearer": []}])
                responses.setdefault("401", _answer("Missing or wrong bearer token.", "HTTPError", www))
            if "requestBody" in op:
                responses.setdefault("400", _answer("The body is not JSON.", "HTTPError"))
                responses.setdefault("413", _answer("The body is larger than api.max_body_bytes.", "OpenAIError"))
            if "{" in path:
                responses.setdefault("404", _answer("Nothing has the id in the path.", "HTTPError"))


_FIELD = re.compile(r"^([A-Za-z_][\w.\[\]-]*): (.+)$", re.DOTALL)


def field_errors(message: str) -> list[dict[str, Any]]:
    """``"field: what is wrong"`` as FastAPI's documented 422 ``detail`` list, the field in ``loc``."""
    m = _FIELD.match(message)
    loc = ["body", *m.group(1).split(".")] if m else ["body"]
    return [{"loc": loc, "msg": message, "type": "value_error"}]


async def validation_shape(request: Request, exc: Exception) -> Response:
    """``HTTPException(422, "field: message")`` in FastAPI's documented 422 shape; others unchanged."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 422 and isinstance(exc.detail, str):
        return JSONResponse({"detail": field_errors(exc.detail)}, status_code=422, headers=exc.headers)
    return await http_exception_handler(request, exc)
