"""Errors of the request intake and its pipelines (research, briefing); a research source's own failure
is :class:`pipelines.research.errors.SourceError`.

Hierarchy::

    HydraError                                          (HTTP status, code)
    └── IntakeError               400 intake_error         base of these
        ├── RequestInputError     422 request_invalid      a request the owner must fix (empty, too long): CLI exit 2
        ├── ModelUnavailableError 400 model_unavailable    no chat model is reachable (the caller falls back to rules)
        ├── ModelReplyError       400 model_reply_invalid  the model answered, but not what was asked (bad JSON, schema)
        └── DeliveryError         400 delivery_failed      a briefing could not be delivered on one channel
"""

from __future__ import annotations

from hydra_os.errors import HydraError


class IntakeError(HydraError):
    """Base of the intake, research and briefing errors."""

    http_status = 400
    code = "intake_error"


class RequestInputError(IntakeError):
    """The request itself is unusable; the message names the field."""

    http_status = 422
    code = "request_invalid"
    exit_code = 2


class ModelUnavailableError(IntakeError):
    """No chat model answered (no endpoint, gateway down, timeout)."""

    code = "model_unavailable"


class ModelReplyError(IntakeError):
    """The model's answer did not match what was asked."""

    code = "model_reply_invalid"


class DeliveryError(IntakeError):
    """One briefing channel failed."""

    code = "delivery_failed"
