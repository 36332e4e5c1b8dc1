"""Errors of the NixOS layer (generations, the safe switch, the privileged helper).

Hierarchy (HTTP status, code)::

    HydraError
    └── NixosError           500 nixos_failed      a NixOS operation failed (build, activation, profile)
        └── RevisionRefused  409 revision_refused  the configuration revision failed its health gate before;
                                                   it is not tried again

Library and process failures (``run_command`` errors, non-zero exits) are translated here, at the step
that ran them; the message names the step.
"""

from __future__ import annotations

from hydra_os.errors import HydraError


class NixosError(HydraError):
    """A NixOS operation (build, switch-to-configuration, nix-env) failed."""

    code = "nixos_failed"
    exit_code = 2


class RevisionRefused(NixosError):
    """The configuration revision failed its health gate before; it is not tried again."""

    http_status = 409
    code = "revision_refused"
