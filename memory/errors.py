"""Errors of the memory layer.

Hierarchy (all subclass :class:`hydra_os.errors.HydraError`; ``str(err)`` is one line for the owner)::

    MemoryLayerError                 base of every memory error
    ├── MemoryInputError             bad input: names the field and what was expected (CLI exit 2, HTTP 4xx)
    │   ├── BlockLimitError          an edit would exceed a block's limit; says how many characters to trim
    │   ├── BlockEditError           replace text absent (named), block read-only, label taken
    │   └── BackupFormatError        an export file is malformed or the import target is not empty
    ├── MemoryNotFoundError          a block, passage, entity or learning does not exist (also NotFoundError)
    ├── EmbeddingModelMismatchError  a store built with one embedding model was queried with another;
    │                                names both and points at ``hydra memory reindex`` (exit 2)
    ├── MemoryBackendError           a backend (Qdrant, Ladybug, Neo4j, Letta, embedder) failed; library
    │                                errors are translated into this at the boundary
    │   ├── MemoryStoreDownError     one store could not be opened (a damaged file, a server down); the
    │   │                            message names the file and how to restore it; the others still serve
    │   └── MemoryDiskSpaceError     too little free disk for a memory-mapped store to grow: refused, not crashed
    └── MemoryUnavailableError       the memory service cannot be reached over the bus (also BusError)
        └── MemoryOutcomeUnknownError a write got no answer in time: it may have been applied; a retry
                                     with the same request id is applied at most once

Errors cross the bus by name: the service replies ``{"error": {"type": <class name>, "message": ...}}``
and the client raises the same class again (see :func:`error_from_wire`).
"""

from __future__ import annotations

from hydra_os.errors import BusError, HydraError, NotFoundError


class MemoryLayerError(HydraError):
    """Base of every deliberate memory-layer error."""


class MemoryInputError(MemoryLayerError):
    """Bad input to a memory operation; the message names the field and what was expected."""

    exit_code = 2


class BlockLimitError(MemoryInputError):
    """An edit would make a core block longer than its limit."""


class BlockEditError(MemoryInputError):
    """An edit cannot apply: the text to replace is absent, the block is read-only, the label exists."""


class BackupFormatError(MemoryInputError):
    """An export file cannot be imported: malformed line, unknown version, or a non-empty target."""


class MemoryNotFoundError(MemoryLayerError, NotFoundError):
    """A block, passage, entity or learning that was asked for does not exist."""

    exit_code = 2


class EmbeddingModelMismatchError(MemoryLayerError):
    """A store's vectors come from one embedding model and the query embedder is another."""

    exit_code = 2


class MemoryBackendError(MemoryLayerError):
    """A storage or model backend failed (its library error translated, message readable)."""


class MemoryStoreDownError(MemoryBackendError):
    """One store (core, archival, graph, learnings) could not be opened; the rest of memory serves."""


class MemoryDiskSpaceError(MemoryBackendError):
    """The archival store's filesystem is below its free-space margin: writes (and opening) are refused."""


class MemoryUnavailableError(MemoryLayerError, BusError):
    """No memory service answered on the bus."""

    exit_code = 2


class MemoryOutcomeUnknownError(MemoryUnavailableError):
    """A write sent over the bus got no reply in time: it may or may not have been applied.

    Not "failed": the memory node may have applied it and lost the reply. ``request_id`` is the id it
    was sent with; retrying with it (``MemoryClient.call(..., request_id=...)``) is applied at most once.
    """

    def __init__(self, message: str, request_id: str = "") -> None:
        super().__init__(message)
        self.request_id = request_id


_WIRE: dict[str, type[MemoryLayerError]] = {
    cls.__name__: cls
    for cls in (
        MemoryLayerError,
        MemoryInputError,
        BlockLimitError,
        BlockEditError,
        BackupFormatError,
        MemoryNotFoundError,
        EmbeddingModelMismatchError,
        MemoryBackendError,
        MemoryStoreDownError,
        MemoryDiskSpaceError,
        MemoryUnavailableError,
        MemoryOutcomeUnknownError,
    )
}


def error_to_wire(err: MemoryLayerError) -> dict[str, str]:
    """The JSON form of an error for a bus reply."""
    name = type(err).__name__
    for cls in type(err).__mro__:  # a subclass defined elsewhere travels as its nearest known base
        if cls.__name__ in _WIRE and _WIRE[cls.__name__] is cls:
            name = cls.__name__
            break
    return {"type": name, "message": str(err)}


def error_from_wire(data: dict[str, str]) -> MemoryLayerError:
    """Rebuild an error received from the memory service."""
    cls = _WIRE.get(str(data.get("type")), MemoryLayerError)
    return cls(str(data.get("message", "memory service error")))
