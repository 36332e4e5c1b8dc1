"""Errors of node control (the per-node RPC service).

Hierarchy (HTTP status, code)::

    HydraError
    └── RpcRequestError  400 rpc_request_invalid  a node RPC request whose body is not a JSON object

A verb's own errors are its component's; a failed *call* to a node is :class:`hydra_os.errors.RpcError`.
"""

from __future__ import annotations

from hydra_os.errors import HydraError


class RpcRequestError(HydraError):
    """A node RPC request the caller must fix: its body is not a JSON object."""

    http_status = 400
    code = "rpc_request_invalid"
