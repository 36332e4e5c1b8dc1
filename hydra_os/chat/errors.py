"""Errors of talking to a chat model.

Hierarchy (HTTP status, code)::

    HydraError
    └── ChatError                 400 chat_failed          base: a chat call did not give a usable answer
        ├── ModelUnavailableError 400 model_unavailable    no chat model is reachable (callers fall back)
        └── ModelReplyError       400 model_reply_invalid  the model answered, not what was asked (bad JSON)

Callers (the intake, the research and briefing pipelines, memory's extraction) catch :class:`ChatError`
and go on without the model; memory's extractor reports it as its own backend error (its bus contract).
"""

from __future__ import annotations

from hydra_os.errors import HydraError


class ChatError(HydraError):
    """A chat call did not give a usable answer."""

    http_status = 400
    code = "chat_failed"


class ModelUnavailableError(ChatError):
    """No chat model answered (no endpoint, gateway down, timeout)."""

    code = "model_unavailable"


class ModelReplyError(ChatError):
    """The model's answer did not match what was asked."""

    code = "model_reply_invalid"
