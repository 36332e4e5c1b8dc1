"""Errors of the request intake and its pipelines (research, briefing).

Hierarchy::

    HydraError
    └── IntakeError               base of this slice
        ├── RequestInputError     a request the owner must fix (empty, too long): HTTP 422, CLI exit 2
        ├── SourceError           a research source failed (one source; the others still count)
        └── DeliveryError         a briefing could not be delivered on one channel (the others still are)
"""

from __future__ import annotations

from hydra_os.errors import HydraError


class IntakeError(HydraError):
    """Base of the intake, research and briefing errors."""


class RequestInputError(IntakeError):
    """The request itself is unusable; the message names the field."""

    exit_code = 2


class SourceError(IntakeError):
    """One research source could not be read."""


class DeliveryError(IntakeError):
    """One briefing channel failed."""
