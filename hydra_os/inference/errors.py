"""Errors of the gateway and router, each with the HTTP status and OpenAI error shape it answers with.

Hierarchy (HTTP status, ``code``, OpenAI ``type``)::

    HydraError
    └── InferenceError              500 inference_failed         server_error           base; ``param`` names a field
        ├── BadRequestError         400 invalid_request          invalid_request_error  malformed body, names the field
        │   ├── ContextLengthError  400 context_length_exceeded  invalid_request_error  the prompt fits no endpoint
        │   └── RejectedError       400 request_rejected         invalid_request_error  the endpoint refused it as
        │                                                                               invalid (a 5xx saying so)
        ├── AuthError               401 invalid_api_key          invalid_request_error  missing or wrong bearer token
        ├── ModelNotFoundError      404 model_not_found          invalid_request_error  unknown model or alias
        ├── BusyError               429 all_endpoints_busy       rate_limit_error       every endpoint busy and the
        │                                                                               wait queue full or timed out
        │                                                                               (+ Retry-After)
        └── NoEndpointError         503 no_endpoint_available    server_error           no healthy endpoint could
                                                                                        serve it within the tries
        (upstream failures are :class:`UpstreamFailure`, internal to the retry loop, never raised out)

``http_status`` and ``code`` are :class:`HydraError`'s own (the one attribute every handler reads);
the OpenAI routes answer them in OpenAI's shape, ``to_body()`` = ``{"error": {"message", "type",
"param", "code"}}``, as OpenAI clients expect.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hydra_os.errors import HydraError


class InferenceError(HydraError):
    code = "inference_failed"
    type: ClassVar[str] = "server_error"  # OpenAI's error type, beside our code

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param

    def to_body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.type, "param": self.param, "code": self.code}}


class BadRequestError(InferenceError):
    http_status = 400
    code = "invalid_request"
    type = "invalid_request_error"
    exit_code = 2


class ContextLengthError(BadRequestError):
    code = "context_length_exceeded"  # what OpenAI answers; SDKs and LangChain look for it


class RejectedError(BadRequestError):
    code = "request_rejected"


class AuthError(InferenceError):
    http_status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class ModelNotFoundError(InferenceError):
    http_status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class BusyError(InferenceError):
    http_status = 429
    type = "rate_limit_error"
    code = "all_endpoints_busy"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NoEndpointError(InferenceError):
    http_status = 503
    type = "server_error"
    code = "no_endpoint_available"


class UpstreamFailure(Exception):
    """One attempt failed before the first byte reached the client: try the next endpoint."""

    def __init__(self, kind: str, detail: str, *, cool_down: bool = True) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind  # connect | timeout | http_5xx | http_429 | protocol
        self.detail = detail
        self.cool_down = cool_down  # False: http_429 (busy), http_5xx (counted, cools only when repeated)
