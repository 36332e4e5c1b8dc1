"""Every exception Hydra raises on purpose.

Hierarchy::

    HydraError                  base; ``str(err)`` is a one-line message fit for the owner
    ├── ConfigError             bad config file, value or environment override (CLI exit 2)
    ├── StartupError            the daemon cannot start: port in use, state dir, lock (CLI exit 2)
    │   └── StateDirLockedError another daemon holds the state dir
    ├── BusError                NATS unreachable or a bus operation failed
    │   └── RpcError            a node RPC failed or timed out
    └── NotFoundError           an asked-for thing (node, model, task) does not exist

Errors from libraries (nats, httpx, OS) are translated into these at the boundary where
they happen, so callers handle one family and messages stay readable.
"""

from __future__ import annotations


class HydraError(Exception):
    """Base of all deliberate Hydra errors. The message is one line for the owner."""

    exit_code: int = 1


class ConfigError(HydraError):
    """The configuration is invalid: names the field, the value and what was expected."""

    exit_code = 2


class StartupError(HydraError):
    """The daemon cannot start; the message says what and how to fix it."""

    exit_code = 2


class StateDirLockedError(StartupError):
    """Another daemon already uses this state directory."""


class BusError(HydraError):
    """The NATS bus is unreachable or a bus operation failed."""

    exit_code = 2


class RpcError(BusError):
    """A request to a node's control service failed or timed out."""


class NotFoundError(HydraError):
    """The thing asked for does not exist."""
