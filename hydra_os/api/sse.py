"""Server-sent events as the node's streaming routes write them: ``event: <name>`` and one JSON ``data:``
line per event, and a :class:`~hydra_os.errors.HydraError` as the one error event (its code and one-line
message, the shape of the API's error body)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from hydra_os.errors import HydraError

STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}  # no proxy holds chunks back


def sse(event: str, data: Mapping[str, object]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def error_event(e: HydraError) -> bytes:
    """An error once the stream has started (its 200 is sent): what the error body would have said."""
    return sse("error", {"error": {"code": e.code, "message": str(e)}})
