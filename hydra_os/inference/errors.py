"""Errors of the gateway and router, each with the HTTP status and OpenAI error shape it answers with.

Hierarchy::

    HydraError
    └── InferenceError              base; ``status``, ``type``, ``param``, ``code`` for the wire
        ├── BadRequestError         malformed body: 400, names the field (``param``)
        │   ├── ContextLengthError  the prompt fits no endpoint's context: 400, code ``context_length_exceeded``
        │   └── RejectedError       the endpoint refused the request as invalid (a 5xx saying so): 400
        ├── AuthError               missing or wrong bearer token: 401
        ├── ModelNotFoundError      unknown model or alias: 404, code ``model_not_found``
        ├── BusyError               every endpoint busy and the wait queue full or timed out: 429 + Retry-After
        └── NoEndpointError         no healthy endpoint could serve it within the tries: 503
            (upstream failures are :class:`UpstreamFailure`, internal to the retry loop, never raised out)

``to_body()`` gives ``{"error": {"message", "type", "param", "code"}}`` as OpenAI clients expect.
"""

from __future__ import annotations

from typing import Any

from hydra_os.errors import HydraError


class InferenceError(HydraError):
    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    def to_body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.type, "param": self.param, "code": self.code}}


class BadRequestError(InferenceError):
    status = 400
    type = "invalid_request_error"
    exit_code = 2


class ContextLengthError(BadRequestError):
    code = "context_length_exceeded"  # what OpenAI answers; SDKs and LangChain look for it


class RejectedError(BadRequestError):
    code = "request_rejected"


class AuthError(InferenceError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class ModelNotFoundError(InferenceError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class BusyError(InferenceError):
    status = 429
    type = "rate_limit_error"
    code = "all_endpoints_busy"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NoEndpointError(InferenceError):
    status = 503
    type = "server_error"
    code = "no_endpoint_available"


class UpstreamFailure(Exception):
    """One attempt failed before the first byte reached the client: try the next endpoint."""

    def __init__(self, kind: str, detail: str, *, cool_down: bool = True) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind  # connect | timeout | http_5xx | http_429 | protocol
        self.detail = detail
        self.cool_down = cool_down  # False: http_429 (busy), http_5xx (counted, cools only when repeated)
