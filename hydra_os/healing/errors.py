"""Errors of the healing and supervision layers.

Hierarchy (all under :class:`hydra_os.errors.HydraError`)::

    HealingError                 500 healing_error          base of these; one line for the owner
    ├── CheckRequestError        422 check_request_invalid  a heal.run request names no list of known checks
    ├── CheckFailedToRun         500 check_failed_to_run    a check could not run at all (not "the thing is unhealthy")
    ├── FixupError               500 fixup_failed           a fixup ran and failed (command exit code, timeout)
    └── SupervisorError          400 supervisor_refused     a supervised child cannot be started or is unknown

A notification that cannot be delivered is :class:`hydra_os.notify.NotifyError`; a failed NixOS
operation is :class:`hydra_os.nixos.errors.NixosError` (each error lives with the code that raises it).

Library errors (httpx, OSError, subprocess exit codes) are translated at the boundary.
"""

from __future__ import annotations

from hydra_os.errors import HydraError


class HealingError(HydraError):
    """Base of the healing layer's deliberate errors."""

    http_status = 500
    code = "healing_error"


class CheckRequestError(HealingError):
    """A ``heal.run`` request is malformed or names a check this node does not have."""

    http_status = 422
    code = "check_request_invalid"


class CheckFailedToRun(HealingError):
    """A check could not run (bad binary, permission); distinct from a failing check."""

    code = "check_failed_to_run"


class FixupError(HealingError):
    """A fixup ran and did not succeed."""

    code = "fixup_failed"


class SupervisorError(HealingError):
    """A supervised child cannot be started, or no child of that name exists."""

    http_status = 400
    code = "supervisor_refused"
    exit_code = 2
