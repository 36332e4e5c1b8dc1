"""Errors of the healing, supervision, notification and NixOS layers.

Hierarchy (all under :class:`hydra_os.errors.HydraError`)::

    HealingError                 base of this slice; one line for the owner
    ├── CheckFailedToRun         a check could not run at all (not "the thing is unhealthy")
    ├── FixupError               a fixup ran and failed (command exit code, timeout)
    ├── SupervisorError          a supervised child cannot be started or is unknown
    ├── NotifyError              a notification could not be delivered
    └── NixosError               a NixOS operation failed (build, activation, profile)
        └── RevisionRefused      the configuration revision failed before and is not tried again

Library errors (httpx, OSError, subprocess exit codes) are translated at the boundary.
"""

from __future__ import annotations

from hydra_os.errors import HydraError


class HealingError(HydraError):
    """Base of the healing layer's deliberate errors."""


class CheckFailedToRun(HealingError):
    """A check could not run (bad binary, permission); distinct from a failing check."""


class FixupError(HealingError):
    """A fixup ran and did not succeed."""


class SupervisorError(HealingError):
    """A supervised child cannot be started, or no child of that name exists."""

    exit_code = 2


class NotifyError(HealingError):
    """A notification could not be delivered (the notifier is unreachable or refused it)."""


class NixosError(HealingError):
    """A NixOS operation (build, switch-to-configuration, nix-env) failed."""

    exit_code = 2


class RevisionRefused(NixosError):
    """The configuration revision failed its health gate before; it is not tried again."""
