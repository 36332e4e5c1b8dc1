"""Hydra as an MCP server: memory, tasks, approvals (read-only) and the ask path for coding agents.

:mod:`.server` defines the server once; :mod:`.http` serves it at ``/mcp`` on the node API and
``hydra mcp`` (:mod:`hydra_os.cli.mcp_cmd`) over stdio.
"""
