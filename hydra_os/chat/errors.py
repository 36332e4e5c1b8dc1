"""Errors of talking to a chat model.

Hierarchy::

    HydraError
    └── ChatError                 base: a chat call did not give a usable answer
        ├── ModelUnavailableError no chat model is reachable (the caller falls back to rules / no synthesis)
        └── ModelReplyError       the model answered, but not what was asked (bad JSON, wrong schema)
"""

from __future__ import annotations

from hydra_os.errors import HydraError


class ChatError(HydraError):
    """A chat call did not give a usable answer."""


class ModelUnavailableError(ChatError):
    """No chat model answered (no endpoint, gateway down, timeout)."""


class ModelReplyError(ChatError):
    """The model's answer did not match what was asked."""
