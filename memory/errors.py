"""Errors of the memory layer.

Hierarchy (all subclass :class:`hydra_os.errors.HydraError`; ``str(err)`` is one line for the owner)::

    MemoryLayerError                  502 memory_error              base of every memory error
    ├── MemoryInputError              422 memory_input_invalid      bad input: names the field and what was
    │   │                                                           expected (CLI exit 2)
    │   ├── BlockLimitError           422 block_limit               an edit would exceed a block's limit; says
    │   │                                                           how many characters to trim
    │   ├── BlockEditError            422 block_edit_refused        replace text absent (named), block
    │   │                                                           read-only, label taken
    │   └── BackupFormatError         422 backup_format_invalid     an export file is malformed or the import
    │                                                               target is not empty
    ├── MemoryNotFoundError           404 memory_not_found          a block, passage, entity or learning does
    │                                                               not exist (also NotFoundError)
    ├── EmbeddingModelMismatchError   422 embedding_model_mismatch  a store built with one embedding model was
    │                                                               queried with another; names both and points
    │                                                               at ``hydra memory reindex`` (exit 2)
    ├── MemoryBackendError            502 memory_backend_failed     a backend (Qdrant, Ladybug, Neo4j, Letta,
    │   │                                                           embedder) failed; library errors are
    │   │                                                           translated into this at the boundary
    │   ├── MemoryStoreDownError      503 memory_store_down         one store could not be opened (a damaged
    │   │                                                           file, a server down); the message names the
    │   │                                                           file and how to restore it; the others serve
    │   └── MemoryDiskSpaceError      507 memory_disk_full          too little free disk for a memory-mapped
    │                                                               store to grow: refused, not crashed
    └── MemoryUnavailableError        503 memory_unavailable        the memory service cannot be reached over
        │                                                           the bus (also BusError)
        └── MemoryOutcomeUnknownError 503 memory_outcome_unknown    a write got no answer in time: it may have
                                                                    been applied; a retry with the same request
                                                                    id is applied at most once

507 is Insufficient Storage: memory is read-only until space is freed.

Errors cross the bus by name: the service replies ``{"error": {"type": <class name>, "message": ...}}``
and the client raises the same class again (see :func:`error_from_wire`); the nats micro error code
is :attr:`HydraError.service_code` (``400`` for a 4xx but 404, ``404``, ``500`` for a 5xx).
"""

from __future__ import annotations

from hydra_os.errors import BusError, HydraError, NotFoundError


class MemoryLayerError(HydraError):
    """Base of every deliberate memory-layer error."""

    http_status = 502
    code = "memory_error"


class MemoryInputError(MemoryLayerError):
    """Bad input to a memory operation; the message names the field and what was expected."""

    http_status = 422
    code = "memory_input_invalid"
    exit_code = 2


class BlockLimitError(MemoryInputError):
    """An edit would make a core block longer than its limit."""

    code = "block_limit"


class BlockEditError(MemoryInputError):
    """An edit cannot apply: the text to replace is absent, the block is read-only, the label exists."""

    code = "block_edit_refused"


class BackupFormatError(MemoryInputError):
    """An export file cannot be imported: malformed line, unknown version, or a non-empty target."""

    code = "backup_format_invalid"


class MemoryNotFoundError(MemoryLayerError, NotFoundError):
    """A block, passage, entity or learning that was asked for does not exist."""

    http_status = 404
    code = "memory_not_found"
    exit_code = 2


class EmbeddingModelMismatchError(MemoryLayerError):
    """A store's vectors come from one embedding model and the query embedder is another."""

    http_status = 422
    code = "embedding_model_mismatch"
    exit_code = 2


class MemoryBackendError(MemoryLayerError):
    """A storage or model backend failed (its library error translated, message readable)."""

    code = "memory_backend_failed"


class MemoryStoreDownError(MemoryBackendError):
    """One store (core, archival, graph, learnings) could not be opened; the rest of memory serves."""

    http_status = 503
    code = "memory_store_down"


class MemoryDiskSpaceError(MemoryBackendError):
    """The archival store's filesystem is below its free-space margin: writes (and opening) are refused."""

    http_status = 507
    code = "memory_disk_full"


class MemoryUnavailableError(MemoryLayerError, BusError):
    """No memory service answered on the bus."""

    http_status = 503
    code = "memory_unavailable"
    exit_code = 2


class MemoryOutcomeUnknownError(MemoryUnavailableError):
    """A write sent over the bus got no reply in time: it may or may not have been applied.

    Not "failed": the memory node may have applied it and lost the reply. ``request_id`` is the id it
    was sent with; retrying with it (``MemoryClient.call(..., request_id=...)``) is applied at most once.
    """

    code = "memory_outcome_unknown"
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
