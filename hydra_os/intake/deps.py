"""What the intake works with: the services a request may reach, shared by
:class:`~hydra_os.intake.service.IntakeService` (which understands a request) and
:mod:`hydra_os.intake.execute` (which does what it asks).

Its own module so that the service can call ``execute`` and ``execute`` can take these
dependencies without the two modules importing each other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hydra_os.chat.client import ChatModel
from hydra_os.config import Settings
from hydra_os.policy.model import Gate
from hydra_os.sections.intake import IntakeConfig
from hydra_os.tasks.queue import TaskQueue
from memory.archiver import ExchangeArchiver
from memory.extract import ChatExtractor
from memory.protocols import MemoryStack

MemoryOpener = Callable[[], Awaitable[MemoryStack]]


@dataclass
class IntakeDeps:
    settings: Settings
    config: IntakeConfig
    queue: TaskQueue
    node_id: str
    gate: Gate | None = None
    chat: ChatModel | None = None
    memory: MemoryOpener | None = None
    extractor: ChatExtractor | None = None
    nodes: Callable[[], dict[str, list[str]]] | None = None
    """Live nodes and their roles (for 'on the storage node' and finding models)."""
    archiver: ExchangeArchiver | None = None
    """Where a model's whole answer goes, with the question, off the request path (as hydra/assistant's)."""
