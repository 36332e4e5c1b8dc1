"""Errors of talking to a chat model.

Hierarchy::

    HydraError                                           (HTTP status, code)
    └── ChatError                 400 chat_error           base: a chat call did not give a usable answer
        ├── ModelUnavailableError 400 model_unavailable    no chat model is reachable (callers fall back)
        └── ModelReplyError       400 model_reply_invalid  the model answered, not what was asked
"""

from __future__ import annotations

from hydra_os.errors import HydraError


class ChatError(HydraError):
    """A chat call did not give a usable answer."""

    http_status = 400
    code = "chat_error"


class ModelUnavailableError(ChatError):
    """No chat model answered (no endpoint, gateway down, timeout)."""

    code = "model_unavailable"


class ModelReplyError(ChatError):
    """The model's answer did not match what was asked."""

    code = "model_reply_invalid"
