"""Every exception Hydra raises on purpose, and the wire form each one answers with.

Hierarchy (HTTP status, stable ``code``)::

    HydraError                  500 internal_error   base; ``str(err)`` is a one-line message fit for the owner
    ├── ConfigError             400 config_invalid   bad config file, value or environment override (CLI exit 2)
    ├── StartupError            500 startup_failed   the daemon cannot start: port in use, state dir, lock (exit 2)
    │   └── StateDirLockedError 500 state_dir_locked another daemon holds the state dir
    ├── BusError                503 bus_unavailable  NATS unreachable or a bus operation failed
    │   └── RpcError            503 rpc_failed       a node RPC failed or timed out
    └── NotFoundError           404 not_found        an asked-for thing (node, model, task) does not exist

Each package's errors live beside it (``hydra_os/tasks/errors.py``, ``memory/errors.py``, ...) and
declare their own ``http_status`` and ``code`` the same way; their docstrings draw their subtree.

Errors from libraries (nats, httpx, OS) are translated into these at the boundary where they happen,
so callers handle one family and messages stay readable. Every error says how it goes on the wire
itself: the one exception handler in :mod:`hydra_os.api.app` answers any ``HydraError`` that escapes a
route with :meth:`HydraError.wire_status` (its ``http_status``) and ``{"error": {"code", "message"}}``
(or a web page's HTML rendering of the same); a bus service answers with
:attr:`HydraError.service_code` (nats micro's ``Nats-Service-Error-Code``). Nothing else maps an
error class to a status (``scripts/check_seams.py`` fails CI on one).
"""

from __future__ import annotations

from typing import ClassVar


class HydraError(Exception):
    """Base of all deliberate Hydra errors. The message is one line for the owner."""

    exit_code: int = 1
    http_status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"  # stable snake_case; clients match on it, never on the message

    def wire_status(self) -> int:
        """The HTTP status this error answers with: its class's ``http_status``. An error that relays
        another API's answer (:class:`hydra_os.ui.errors.ActionFailedError`) overrides this to keep it."""
        return self.http_status

    @property
    def service_code(self) -> str:
        """The nats micro error code: HTTP-like, coarse — ``404`` not found, ``400`` any other refusal
        the caller must fix, ``500`` a failure on the serving side. The precise ``code`` travels in the body."""
        status = self.wire_status()
        if status == 404:
            return "404"
        return "400" if 400 <= status < 500 else "500"


class ConfigError(HydraError):
    """The configuration is invalid: names the field, the value and what was expected."""

    exit_code = 2
    http_status = 400
    code = "config_invalid"


class StartupError(HydraError):
    """The daemon cannot start; the message says what and how to fix it."""

    exit_code = 2
    code = "startup_failed"


class StateDirLockedError(StartupError):
    """Another daemon already uses this state directory."""

    code = "state_dir_locked"


class BusError(HydraError):
    """The NATS bus is unreachable or a bus operation failed."""

    exit_code = 2
    http_status = 503
    code = "bus_unavailable"


class RpcError(BusError):
    """A request to a node's control service failed or timed out."""

    code = "rpc_failed"


class RpcNoResponderError(RpcError):
    """No node serves that verb (the node is down, or the component that serves it is off there)."""

    code = "rpc_no_responder"


class NotFoundError(HydraError):
    """The thing asked for does not exist."""

    http_status = 404
    code = "not_found"
