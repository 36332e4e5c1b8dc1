"""Errors of the healing, supervision, notification and NixOS layers.

Hierarchy (all under :class:`hydra_os.errors.HydraError`)::

    HealingError                 500 healing_error          base of these; one line for the owner
    ├── CheckRequestError        422 check_request_invalid  a heal.run request names no list of known checks
    ├── CheckFailedToRun         500 check_failed_to_run    a check could not run at all (not "the thing is unhealthy")
    ├── FixupError               500 fixup_failed           a fixup ran and failed (command exit code, timeout)
    ├── SupervisorError          400 supervisor_refused     a supervised child cannot be started or is unknown
    ├── NotifyError              502 notify_failed          a notification could not be delivered
    └── NixosError               500 nixos_failed           a NixOS operation failed (build, activation, profile)
        └── RevisionRefused      409 revision_refused       the configuration revision failed before; not tried again

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


class NotifyError(HealingError):
    """A notification could not be delivered (the notifier is unreachable or refused it)."""

    http_status = 502
    code = "notify_failed"


class NixosError(HealingError):
    """A NixOS operation (build, switch-to-configuration, nix-env) failed."""

    code = "nixos_failed"
    exit_code = 2


class RevisionRefused(NixosError):
    """The configuration revision failed its health gate before; it is not tried again."""

    http_status = 409
    code = "revision_refused"
