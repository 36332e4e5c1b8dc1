"""Errors of the request intake. A chat model's failures are :mod:`hydra_os.chat.errors`, a research
source's :class:`pipelines.research.errors.SourceError`, a briefing channel's
:class:`pipelines.briefing.errors.DeliveryError`.

Hierarchy::

    HydraError                                          (HTTP status, code)
    └── IntakeError               400 intake_error         base of these
        └── RequestInputError     422 request_invalid      a request the owner must fix (empty, too long): CLI exit 2
"""

from __future__ import annotations

from hydra_os.errors import HydraError


class IntakeError(HydraError):
    """Base of the intake's errors."""

    http_status = 400
    code = "intake_error"


class RequestInputError(IntakeError):
    """The request itself is unusable; the message names the field."""

    http_status = 422
    code = "request_invalid"
    exit_code = 2
