"""Hydra as an MCP server: memory, tasks, approvals (read-only) and the ask path for coding agents.

:mod:`.server` defines the server once; :mod:`.http` serves it at ``/mcp`` on the node API and
``hydra mcp`` (:mod:`hydra_os.cli.mcp_cmd`) over stdio.
"""

from __future__ import annotations

import importlib.util

INSTALL_HINT = "the MCP SDK is not installed: pip install 'hydra-os[mcp]' (the `mcp` extra)"


def sdk_available() -> bool:
    """Whether the optional ``mcp`` SDK is installed (checked without importing it)."""
    return importlib.util.find_spec("mcp") is not None
