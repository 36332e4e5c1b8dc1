"""Errors of the task queue and the scheduler.

Hierarchy (all under :class:`hydra_os.errors.HydraError`)::

    HydraError
    ├── TaskError                 base of this slice
    │   ├── InvalidTaskError      a bad task spec or request (names the field; CLI exit 2, HTTP 422)
    │   ├── TaskStateError        the task is not in a state that allows the operation (HTTP 409)
    │   ├── UnknownKindError      no handler for a task kind on this node
    │   ├── CheckpointError       a step result could not be stored (too large, not JSON)
    │   └── PermanentTaskError    raised by a handler: fail now, do not retry
    ├── NotFoundError
    │   └── TaskNotFoundError     no task with that id (HTTP 404)
    └── BusError                  (bus failures inside the queue are translated to this)

Library errors (nats, sqlalchemy, APScheduler) are translated where they happen.
"""

from __future__ import annotations

from hydra_os.errors import HydraError, NotFoundError


class TaskError(HydraError):
    """Base of task queue errors."""


class InvalidTaskError(TaskError):
    """A task spec or request is invalid; the message names the field and what was expected."""

    exit_code = 2


class TaskStateError(TaskError):
    """The operation is not allowed in the task's current state (e.g. retrying a running task)."""

    exit_code = 2


class UnknownKindError(TaskError):
    """No handler is registered for a task kind."""

    exit_code = 2


class CheckpointError(TaskError):
    """A step's result could not be checkpointed."""


class TaskNotFoundError(NotFoundError):
    """No task with that id exists."""

    exit_code = 2


class PermanentTaskError(TaskError):
    """A handler raises this when retrying cannot help (bad parameters): the task fails at once."""
