"""Errors of the briefing pipeline.

Hierarchy (HTTP status, code)::

    HydraError
    └── DeliveryError  502 delivery_failed  one briefing channel (email) failed; the others still go out

A channel's SMTP and socket errors are translated into this where the mail is sent
(:func:`pipelines.briefing.deliver.deliver` reports it per channel and carries on).
"""

from __future__ import annotations

from hydra_os.errors import HydraError


class DeliveryError(HydraError):
    """One briefing channel failed."""

    http_status = 502
    code = "delivery_failed"
