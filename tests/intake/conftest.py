"""Fixtures for the intake tests: the pipeline fixtures (stand-in model, memory node, real workers) and a
real policy gate on the bus."""

from __future__ import annotations

from tests.pipelines.conftest import chat, chat_server, memory_node, sources  # noqa: F401  (shared fixtures)
from tests.tasks.conftest import make_worker  # noqa: F401
